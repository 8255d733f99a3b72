"""The rule pack: law and local practice as data (docs/contract.md, "Rule pack").

A pack holds versions, each in force from its `effective_from`; the version in force on an
event's `occurred_at` judges it, so a catalogue change never rewrites history. A version has
the general rules (limitation, hearing thresholds, summary-procedure limits, ...) and the
catalogue of enforcement items (事项清单). Amounts are yuan, or multiples of the case's
`amount_involved` / `illegal_gains` where the law reads "货值金额一倍以上三倍以下".
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from casechain.domain.calendar import local_day

__all__ = [
    "DISCRETION_LEVELS",
    "TEAMS",
    "Amount",
    "CriminalThreshold",
    "Facts",
    "General",
    "Item",
    "Multiple",
    "RulePack",
    "RuleVersion",
]

#: The nine teams of "1+8": the comprehensive team and the eight specialised ones.
TEAMS = ("综合执法", "市场监管", "生态环境", "文化市场", "交通运输", "农业农村", "应急管理",
         "自然资源", "卫生健康")
DISCRETION_LEVELS = ("exempted", "mitigated", "light", "normal", "heavy")
Basis = Literal["amount_involved", "illegal_gains"]
Yuan = Annotated[float, Field(ge=0)]


class Strict(BaseModel):
    """Pack models refuse unknown keys: a typo in a pack is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Facts(Strict):
    """The case facts an amount may depend on (from `penalty.investigation_concluded`)."""

    amount_involved: float = 0
    illegal_gains: float = 0


class Multiple(Strict):
    """A multiple of a case metric, e.g. 货值金额一倍以上三倍以下 = basis amount_involved,
    multiple [1, 3]. `minimum_basis`: "不足十万元的，按十万元计算"; `under`/`then`: "货值金额不
    足一万元的，并处五万元以上十万元以下罚款" (an absolute range below a basis value)."""

    basis: Basis
    multiple: tuple[Yuan, Yuan] | Yuan
    minimum_basis: Yuan | None = None
    under: Yuan | None = None
    then: tuple[Yuan, Yuan] | Yuan | None = None

    @model_validator(mode="after")
    def _under_needs_then(self) -> Multiple:
        if (self.under is None) != (self.then is None):
            raise ValueError("under and then go together")
        return self

    def bounds(self, facts: Facts) -> tuple[float, float]:
        """The [low, high] yuan this multiple gives for the facts."""
        value = getattr(facts, self.basis)
        if self.under is not None and value < self.under:
            return _pair(self.then)  # type: ignore[arg-type]
        if self.minimum_basis is not None:
            value = max(value, self.minimum_basis)
        low, high = _pair(self.multiple)
        return low * value, high * value


Amount = Yuan | Multiple
Range = tuple[Yuan, Yuan] | Multiple


def _pair(value: tuple[float, float] | float) -> tuple[float, float]:
    return (value, value) if isinstance(value, (int, float)) else (value[0], value[1])


def resolve_max(amount: Amount, facts: Facts) -> float:
    """The highest yuan an amount allows for the facts."""
    return amount.bounds(facts)[1] if isinstance(amount, Multiple) else float(amount)


def resolve_range(value: Range, facts: Facts) -> tuple[float, float]:
    """[min, max] yuan of a benchmark range for the facts."""
    return value.bounds(facts) if isinstance(value, Multiple) else (value[0], value[1])


class ByKind(Strict):
    """A value for persons and one for organisations."""

    person: Amount
    organisation: Amount


class RangeByKind(Strict):
    """A benchmark range for persons and one for organisations."""

    person: Range
    organisation: Range


class CriminalThreshold(Strict):
    """追诉标准: a metric reaching a value, or a repeat rule (punished `penalties` times within
    `within_years` and offending again)."""

    crime: Annotated[str, Field(min_length=1)]
    metric: Basis | None = None
    value: Yuan | None = None
    repeat: dict[Literal["penalties", "within_years"], int] | None = None
    source: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> CriminalThreshold:
        by_metric = self.metric is not None and self.value is not None
        by_repeat = self.repeat is not None and set(self.repeat) == {"penalties", "within_years"}
        if by_metric == by_repeat:
            raise ValueError("a threshold is either metric and value, or repeat "
                             "{penalties, within_years}")
        return self


class Item(Strict):
    """One enforcement item (执法事项) of the catalogue."""

    code: Annotated[str, Field(pattern=r"^[0-9A-Za-z.-]{3,32}$")]
    name: Annotated[str, Field(min_length=1)]
    team: Literal["综合执法", "市场监管", "生态环境", "文化市场", "交通运输", "农业农村",
                  "应急管理", "自然资源", "卫生健康"]
    level: Literal["city", "district", "street"]
    legal_basis: Annotated[str, Field(min_length=1)]
    statutory_max: ByKind
    benchmarks: dict[Literal["exempted", "mitigated", "light", "normal", "heavy"], RangeByKind]
    criminal_threshold: CriminalThreshold | list[CriminalThreshold] | None = None
    long_limitation: bool = False
    first_violation_exempt: bool = False

    @property
    def thresholds(self) -> list[CriminalThreshold]:
        """The criminal thresholds as a list (empty when none)."""
        if self.criminal_threshold is None:
            return []
        if isinstance(self.criminal_threshold, list):
            return self.criminal_threshold
        return [self.criminal_threshold]


class General(Strict):
    """The national rules of docs/contract.md, with their parameters."""

    limitation_years: int = 2
    long_limitation_years: int = 5
    hearing_request_working_days: int = 5
    hearing_fine: ByKind = ByKind(person=10_000, organisation=100_000)
    hearing_confiscation: ByKind = ByKind(person=10_000, organisation=100_000)
    hearing_kinds: tuple[str, ...] = ("suspension", "revocation", "closure")
    summary_max: ByKind = ByKind(person=200, organisation=3_000)
    officers_required: int = 2
    officers_required_summary: int = 1
    decision_days: int = 90
    service_working_days: int = 7
    payment_days: int = 15
    surcharge_per_day: float = 0.03
    hearing_notice_working_days: int = 7
    measure_days: int = 30
    response_minutes: dict[str, int] = Field(
        default_factory=lambda: {"acknowledged": 1, "departed": 3, "arrived": 15})
    referral_missing_days: int = 3
    referral_decision_days: int = 3
    referral_transfer_hours: int = 24
    handover_days: int = 3
    repeated_inspection: dict[str, int] = Field(
        default_factory=lambda: {"inspections": 3, "within_days": 90})


class RuleVersion(Strict):
    """The rules in force from `effective_from` until the next version."""

    effective_from: date
    title: str = ""
    general: General = General()
    items: list[Item]

    def item(self, code: str) -> Item | None:
        """The catalogue item with this code, or None."""
        return self._index().get(code)

    def _index(self) -> dict[str, Item]:
        index: dict[str, Item] | None = self.__dict__.get("_item_index")
        if index is None:
            index = {item.code: item for item in self.items}
            object.__setattr__(self, "_item_index", index)
        return index


class YearCalendar(Strict):
    """A year's statutory holidays and make-up working days, for years the calendar package
    does not know yet."""

    holidays: list[date] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list)


class RulePack(Strict):
    """A rule pack: named, versioned by `effective_from`, with optional calendar data."""

    name: str
    versions: Annotated[list[RuleVersion], Field(min_length=1)]
    calendar: dict[int, YearCalendar] = Field(default_factory=dict)

    def in_force(self, day: date) -> RuleVersion | None:
        """The version in force on `day`, or None before the first version."""
        current = None
        for version in self.versions:
            if version.effective_from <= day:
                current = version
        return current

    def at(self, moment: str) -> RuleVersion | None:
        """The version in force on the day (Asia/Shanghai) of an RFC 3339 instant, cached by
        day: views ask for every event they apply."""
        by_day: dict[str, RuleVersion | None] | None = self.__dict__.get("_by_day")
        if by_day is None:
            by_day = {}
            object.__setattr__(self, "_by_day", by_day)
        day = local_day(moment)
        if day not in by_day:
            by_day[day] = self.in_force(date.fromisoformat(day))
        return by_day[day]
