"""The rule pack: law and local practice as data (docs/contract.md, "Rule pack").

A pack holds versions, each in force from its `effective_from`; the version in force on an
event's `occurred_at` judges it, so a catalogue change never rewrites history. A version has
the general rules (limitation, hearing thresholds, summary-procedure limits, ...) and the
catalogue of enforcement items (事项清单). Amounts are yuan, or multiples of the case's
`amount_involved` / `illegal_gains` where the law reads "货值金额一倍以上三倍以下".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from casechain.domain.calendar import local_day

__all__ = [
    "DISCRETION_LEVELS",
    "LEVEL_DIGITS",
    "METRIC_LABELS",
    "TEAMS",
    "Amount",
    "Condition",
    "CriminalThreshold",
    "Facts",
    "General",
    "Item",
    "Multiple",
    "RepeatRule",
    "RulePack",
    "RuleVersion",
]

#: The nine teams of "1+8": the comprehensive team and the eight specialised ones.
TEAMS = ("综合执法", "市场监管", "生态环境", "文化市场", "交通运输", "农业农村", "应急管理",
         "自然资源", "卫生健康")
DISCRETION_LEVELS = ("exempted", "mitigated", "light", "normal", "heavy")
#: The digits of a division code at each level of government (3301 city, 330106 district,
#: 330106001 street).
LEVEL_DIGITS = {"city": 4, "district": 6, "street": 9}
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


Metric = Literal["amount_involved", "illegal_gains", "sales_amount", "unsold_value", "turnover"]
#: zh-CN names of the money measures a threshold may read.
METRIC_LABELS = {"amount_involved": "涉案金额", "illegal_gains": "违法所得", "sales_amount": "销售金额",
                 "unsold_value": "尚未销售货值", "turnover": "经营数额"}


class RepeatRule(Strict):
    """Punished `penalties` times (within `within_years`; None: ever) and offending again;
    `same`: the crime whose earlier penalties count (default: this threshold's)."""

    penalties: Annotated[int, Field(ge=1, le=20)]
    within_years: Annotated[int, Field(ge=1, le=30)] | None = None
    same: str | None = None


class Condition(Strict):
    """One way a crime's prosecution standard is met: a money measure, a weighted sum of
    them, a quantity, an act that is a crime by itself, or repeated penalties."""

    metric: Metric | None = None
    sum: dict[Metric, Annotated[float, Field(gt=0)]] | None = None
    quantity: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")] | None = None
    conduct: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")] | None = None
    repeat: RepeatRule | None = None
    value: Yuan | None = None
    #: zh-CN name of a quantity or conduct ("危险废物"), and a quantity's unit ("吨").
    label: str | None = None
    unit: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Condition:
        kinds = [k for k in ("metric", "sum", "quantity", "conduct", "repeat")
                 if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a condition is one of metric, sum, quantity, conduct or repeat "
                             f"(found {', '.join(kinds) or 'none'})")
        if kinds[0] in ("metric", "sum", "quantity") and self.value is None:
            raise ValueError(f"a {kinds[0]} condition needs its value")
        return self

    @property
    def kind(self) -> str:
        """metric, sum, quantity, conduct or repeat."""
        return next(k for k in ("metric", "sum", "quantity", "conduct", "repeat")
                    if getattr(self, k) is not None)


class CriminalThreshold(Strict):
    """追诉标准 of one crime: met when any of its conditions is (`any_of`), for one kind of
    subject if `subject_kind` says so. The forms before revision 2 are still read: a metric
    and value, or a repeat rule {penalties, within_years}."""

    crime: Annotated[str, Field(min_length=1)]
    source: str | None = None
    subject_kind: Literal["person", "organisation"] | None = None
    any_of: Annotated[list[Condition], Field(min_length=1)] | None = None
    metric: Basis | None = None
    value: Yuan | None = None
    repeat: dict[Literal["penalties", "within_years"], int] | None = None
    #: What could not be confirmed about this standard (shown in docs, kept in the pack).
    unconfirmed: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> CriminalThreshold:
        by_metric = self.metric is not None and self.value is not None
        by_repeat = self.repeat is not None and set(self.repeat) == {"penalties", "within_years"}
        by_conditions = self.any_of is not None
        if [by_metric, by_repeat, by_conditions].count(True) != 1:
            raise ValueError("a threshold is any_of [conditions], or (before revision 2) "
                             "metric and value, or repeat {penalties, within_years}")
        return self

    @property
    def conditions(self) -> list[Condition]:
        """The conditions, the forms before revision 2 included (built once: the referral
        checks ask for them for every concluded case)."""
        if self.any_of is not None:
            return self.any_of
        built: list[Condition] | None = self.__dict__.get("_conditions")
        if built is None:
            built = ([Condition(repeat=RepeatRule(penalties=self.repeat["penalties"],
                                                  within_years=self.repeat["within_years"]))]
                     if self.repeat is not None
                     else [Condition(metric=self.metric, value=self.value)])
            object.__setattr__(self, "_conditions", built)
        return built

    def applies_to(self, kind: str | None) -> bool:
        """Whether the standard is one for this kind of subject."""
        return self.subject_kind is None or kind is None or kind == self.subject_kind


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
    #: APL Art. 42: two officers "unless a law provides otherwise"; 1 only with the law that
    #: allows one officer named in `officers_min_basis`.
    officers_min: Literal[1, 2] = 2
    officers_min_basis: str | None = None
    #: APL Art. 36 "法律另有规定的除外": another law's period of limitation, in years.
    limitation_years: Annotated[int, Field(ge=1, le=30)] | None = None

    @model_validator(mode="after")
    def _one_officer_names_its_law(self) -> Item:
        if self.officers_min == 1 and not self.officers_min_basis:
            raise ValueError(f"item {self.code}: officers_min 1 needs officers_min_basis, the "
                             "law that allows one officer (APL Art. 42)")
        return self

    @property
    def thresholds(self) -> list[CriminalThreshold]:
        """The criminal thresholds as a list (empty when none)."""
        if self.criminal_threshold is None:
            return []
        if isinstance(self.criminal_threshold, list):
            return self.criminal_threshold
        return [self.criminal_threshold]


class TeamRules(Strict):
    """A team's own figures where its rules set them (absent: the general ones)."""

    #: APL Arts. 45, 62: working days after the notice for a statement (陈述申辩).
    statement_days: Annotated[int, Field(ge=0, le=30)] | None = None
    #: APL Art. 63 较大数额: a fine or confiscation from which a hearing must be offered.
    hearing_thresholds: ByKind | None = None
    #: APL Art. 60 "法律、法规、规章另有规定的，从其规定": the days the decision deadline may
    #: be extended in all.
    extension_max_days: Annotated[int, Field(ge=0, le=3650)] | None = None
    source: str | None = None


class General(Strict):
    """The national rules of docs/contract.md, with their parameters."""

    limitation_years: int = 2
    long_limitation_years: int = 5
    hearing_request_working_days: int = 5
    hearing_fine: ByKind = ByKind(person=10_000, organisation=100_000)
    hearing_confiscation: ByKind = ByKind(person=10_000, organisation=100_000)
    #: APL Art. 63: the kinds that always carry a hearing right (the amounts: above).
    hearing_kinds: tuple[str, ...] = ("qualification_downgrade", "revocation", "closure",
                                      "employment_restriction", "suspension")
    summary_max: ByKind = ByKind(person=200, organisation=3_000)
    officers_required: int = 2
    #: Before revision 2 the summary procedure took one officer; APL Art. 42 asks two unless
    #: a law provides otherwise (an item's `officers_min`). Read, no longer used.
    officers_required_summary: int = 2
    #: APL Arts. 45, 62: working days after the notice before a general-procedure decision,
    #: unless the statement was received or waived (per team in `teams`).
    statement_days: Annotated[int, Field(ge=0, le=30)] = 3
    #: APL Art. 58: `law` (a hearing held, major public interest, major or complex) or
    #: `general_procedure` (a local rule: every general-procedure decision).
    legal_review: Literal["law", "general_procedure"] = "law"
    #: APL Art. 60: days the decision deadline may be extended in all (None: no cap).
    extension_max_days: Annotated[int, Field(ge=0, le=3650)] | None = None
    teams: dict[Literal["综合执法", "市场监管", "生态环境", "文化市场", "交通运输", "农业农村",
                        "应急管理", "自然资源", "卫生健康"], TeamRules] = Field(
        default_factory=dict)
    #: Decree 310 Art. 8: the police decide on filing in 3 days, 7 when a clue needs
    #: verification, 30 with the superior's approval; Art. 9: 3 days to ask for
    #: reconsideration, 3 days for the police to decide it.
    police_filing_days: int = 3
    police_filing_verification_days: int = 7
    police_filing_extended_days: int = 30
    reconsideration_request_days: int = 3
    police_reconsideration_days: int = 3
    #: APL Art. 41 para 3: working days from a device's capture to telling the party
    #: (及时告知; 5 is common local practice, not a national figure).
    device_notice_days: int = 5
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

    def team(self, team: str | None) -> TeamRules:
        """The team's own figures (empty where it has none)."""
        return self.teams.get(team, _NO_TEAM_RULES) if team else _NO_TEAM_RULES  # type: ignore[call-overload]

    def statement_days_of(self, team: str | None) -> int:
        """Working days for a statement after the notice (Arts. 45, 62)."""
        own = self.team(team).statement_days
        return self.statement_days if own is None else own

    def hearing_fine_of(self, team: str | None) -> ByKind:
        """The 较大数额 of a fine or confiscation for this team (Art. 63)."""
        return self.team(team).hearing_thresholds or self.hearing_fine

    def hearing_confiscation_of(self, team: str | None) -> ByKind:
        """The 较大数额/较大价值 of a confiscation for this team (Art. 63)."""
        return self.team(team).hearing_thresholds or self.hearing_confiscation

    def extension_cap(self, team: str | None) -> int | None:
        """Days the decision deadline may be extended in all (Art. 60), None: no cap."""
        own = self.team(team).extension_max_days
        return self.extension_max_days if own is None else own


_NO_TEAM_RULES = TeamRules()


class RuleVersion(Strict):
    """The rules in force from `effective_from` until the next version. With `inherit: true`
    a version lists only what changed: the previous version's general rules and items carry
    over, its own replace them (items by code), `removed` items are no longer punishable."""

    effective_from: date
    title: str = ""
    inherit: bool = False
    removed: list[str] = Field(default_factory=list)
    #: 赋权清单 (APL Art. 24): division code or prefix → the items delegated to the bodies
    #: there below the items' level (a street on a district item, a district on a city one).
    delegations: dict[Annotated[str, Field(pattern=r"^[0-9]{2,12}$")], list[str]] = Field(
        default_factory=dict)

    def items_of_crime(self, crime: str) -> frozenset[str]:
        """The codes of the items with a threshold of this crime (kept per crime: the
        referral checks ask for every concluded case)."""
        by_crime: dict[str, frozenset[str]] | None = self.__dict__.get("_items_by_crime")
        if by_crime is None:
            found: dict[str, set[str]] = {}
            for item in self.items:
                for threshold in item.thresholds:
                    found.setdefault(threshold.crime, set()).add(item.code)
            by_crime = {k: frozenset(v) for k, v in found.items()}
            object.__setattr__(self, "_items_by_crime", by_crime)
        return by_crime.get(crime, frozenset())

    def lists(self) -> dict[str, Any]:
        """三张清单: items per team and level, and the three lists' counts — comprehensive
        (综合执法), specialised (the eight other teams) and township (items a street may act
        on: street items and items delegated to streets)."""
        by_team: dict[str, dict[str, int]] = {}
        for item in self.items:
            counts = by_team.setdefault(item.team, {"city": 0, "district": 0, "street": 0})
            counts[item.level] += 1
        delegated = {code for codes in self.delegations.values() for code in codes}
        township = [i for i in self.items if i.level == "street" or i.code in delegated]
        return {"effective_from": self.effective_from.isoformat(),
                "items": len(self.items),
                "by_team": {team: by_team[team] for team in TEAMS if team in by_team},
                "comprehensive": sum(1 for i in self.items if i.team == "综合执法"),
                "specialised": sum(1 for i in self.items if i.team != "综合执法"),
                "township": len(township), "delegated": len(delegated),
                "delegations": {k: len(v) for k, v in sorted(self.delegations.items())}}

    def delegated(self, division: str, code: str) -> bool:
        """Whether the pack delegates item `code` to the body of `division`."""
        index = self._delegation_index()
        return any(code in index.get(division[:n], ()) for n in range(2, len(division) + 1))

    def _delegation_index(self) -> dict[str, frozenset[str]]:
        index: dict[str, frozenset[str]] | None = self.__dict__.get("_delegation_sets")
        if index is None:
            index = {k: frozenset(v) for k, v in self.delegations.items()}
            object.__setattr__(self, "_delegation_sets", index)
        return index
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
    #: 行政区划: division code → name (city, districts, 乡镇街道), shown beside the codes.
    divisions: dict[Annotated[str, Field(pattern=r"^[1-9][0-9]{1,11}$")],
                    Annotated[str, Field(min_length=1, max_length=64)]] = Field(
                        default_factory=dict)

    def division_name(self, code: str) -> str | None:
        """The name of a division code, or None when the pack does not list it."""
        return self.divisions.get(code)

    @model_validator(mode="before")
    @classmethod
    def _carry_over(cls, data: Any) -> Any:
        """Versions with `inherit: true` take the previous version's rules and items, with
        their own in place of those they name."""
        if not isinstance(data, dict) or not isinstance(data.get("versions"), list):
            return data
        versions: list[Any] = []
        for raw in data["versions"]:
            if versions and isinstance(raw, dict) and raw.get("inherit") and isinstance(
                    versions[-1], dict):
                before = versions[-1]
                mine = {i.get("code"): i for i in raw.get("items") or [] if isinstance(i, dict)}
                gone = set(raw.get("removed") or [])
                items = [mine.pop(i.get("code"), i) for i in before.get("items") or []
                         if isinstance(i, dict) and i.get("code") not in gone]
                raw = {**raw, "items": items + list(mine.values()),
                       "general": {**(before.get("general") or {}), **(raw.get("general") or {})},
                       "delegations": {
                           division: [c for c in codes if c not in gone]
                           for division, codes in {**(before.get("delegations") or {}),
                                                   **(raw.get("delegations") or {})}.items()}}
            versions.append(raw)
        return {**data, "versions": versions}

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

    def team_after(self, team: str | None, record: Mapping[str, Any]) -> str | None:
        """The case's team (执法队伍) once `record` is folded in: the team of the catalogue
        item an event names (`item_code`), under the version in force when it occurred; an
        item that version does not list leaves the team as it was. Every view that shows a
        case's team folds it with this, in the order the events were recorded, so the
        board, the deadlines and the findings never name two teams for one case."""
        code = record["payload"].get("item_code")
        if not code:
            return team
        version = self.at(record["occurred_at"])
        item = version.item(code) if version else None
        return item.team if item else team
