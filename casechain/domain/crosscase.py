"""The cross-case rules (行刑衔接 and the subject register): checks that look across cases.

Each case contributes its own facts (one `CaseFacts`, its `Decision`s and `Inspection`s, folded
from its own events); everything here is a pure function of those sets and an `as_of` instant.
Nothing depends on the order in which the cases reached the engine: earlier and later are
business time (act dates, decision and conclusion times), so a late import of an older case
gives the same results as if it had come first.

Legal sources: Decree 310 (《行政执法机关移送涉嫌犯罪案件的规定》) Arts. 3, 5, 9, 11, 12;
Administrative Penalty Law Arts. 27, 29, 33; the prosecution standards named by each item's
`criminal_threshold` in the rule pack.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from casechain.domain.calendar import SHANGHAI, CalendarUnknown, WorkCalendar
from casechain.domain.deadlines import ALERT_LABELS, Clock, evaluate, yuan
from casechain.domain.rulepack import (
    METRIC_LABELS,
    Condition,
    CriminalThreshold,
    RulePack,
    RuleVersion,
)

__all__ = [
    "MEASURES",
    "REFERRAL_STATUS_LABELS",
    "REFERRAL_STEPS",
    "CaseFacts",
    "CrossCase",
    "CrossFacts",
    "Decision",
    "Findings",
    "Inspection",
    "ReferralClock",
    "SubjectRegister",
    "ThresholdMet",
    "Thresholds",
    "referral_rates",
]

#: The optional measures of `penalty.investigation_concluded` the criminal thresholds read.
MEASURES = ("sales_amount", "unsold_value", "turnover", "quantities", "conduct")

#: The referral steps whose times a case keeps, in the order of Decree 310.
REFERRAL_STEPS = ("assessed", "reported", "approved", "rejected", "transferred",
                  "police_accepted", "police_filed", "police_declined",
                  "reconsideration_requested", "materials_handed_over", "returned",
                  "reconsideration_decided", "procuratorate_supervision_requested")

#: Referral state → zh-CN status for people.
REFERRAL_STATUS_LABELS = {
    None: "未报告移送", "assessed": "已研判", "reported": "已报告待审批", "approved": "已批准待移送",
    "rejected": "不批准移送", "transferred": "已移送公安", "police_accepted": "公安已受理",
    "police_filed": "公安已立案", "police_declined": "公安不予立案",
    "reconsideration_requested": "已提请复议", "materials_handed_over": "已移交涉案物品",
    "procuratorate_supervision_requested": "已提请检察监督",
    "returned": "公安退回（反向衔接）"}


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """One case as the cross-case rules see it (the current cycle's facts)."""

    case_id: str
    jurisdiction: str
    subject_id: str | None = None
    subject_name: str | None = None
    item_code: str | None = None
    team: str | None = None
    act_date: date | None = None
    concluded_at: datetime | None = None
    amount_involved: float = 0.0
    illegal_gains: float = 0.0
    # The measures criminal thresholds may read (penalty.investigation_concluded, optional).
    sales_amount: float = 0.0
    unsold_value: float = 0.0
    turnover: float = 0.0
    quantities: tuple[tuple[str, float], ...] = ()
    conduct: tuple[str, ...] = ()
    subject_kind: str | None = None
    circumstances: str | None = None
    harm: str | None = None
    corrected: bool = False
    referral_state: str | None = None
    referral: dict[str, datetime] = field(default_factory=dict)
    correction_ordered_at: datetime | None = None
    correction_done_at: datetime | None = None

    def metric(self, name: str) -> float:
        """A money measure: amount_involved, illegal_gains, sales_amount, unsold_value or
        turnover."""
        return float(getattr(self, name))

    def measure(self, condition: Condition) -> float:
        """What a metric, sum or quantity condition reads of these facts."""
        if condition.metric is not None:
            return self.metric(condition.metric)
        if condition.sum is not None:
            return sum(self.metric(m) * w for m, w in condition.sum.items())
        return dict(self.quantities).get(condition.quantity or "", 0.0)

    def as_of(self, moment: datetime) -> CaseFacts:
        """The facts as they stood at `moment` (later steps dropped)."""
        if all(at is None or at <= moment for at in (
                self.concluded_at, self.correction_ordered_at, self.correction_done_at,
                *self.referral.values())):
            return self  # nothing happened after `moment`: most cases, asked about now
        referral = {k: v for k, v in self.referral.items() if v <= moment}
        concluded = self.concluded_at is not None and self.concluded_at <= moment
        if len(referral) == len(self.referral):
            state = self.referral_state
        else:
            state = max(referral, key=lambda k: referral[k]) if referral else None
        return replace(
            self, referral=referral, referral_state=state,
            concluded_at=self.concluded_at if concluded else None,
            correction_ordered_at=_upto(self.correction_ordered_at, moment),
            correction_done_at=_upto(self.correction_done_at, moment))


@dataclass(frozen=True, slots=True)
class Decision:
    """A `penalty.decided` with the case facts it was taken on."""

    case_id: str
    seq: int
    jurisdiction: str
    subject_id: str | None
    item_code: str | None
    act_date: date | None
    decided_at: datetime
    outcome: str
    fine: float
    circumstances: str | None
    harm: str | None
    corrected: bool

    @property
    def penalised(self) -> bool:
        """An administrative penalty was imposed (any kind)."""
        return self.outcome == "penalty"

    @property
    def decided_on(self) -> date:
        """The decision's date in Asia/Shanghai."""
        return self.decided_at.astimezone(SHANGHAI).date()


@dataclass(frozen=True, slots=True)
class Inspection:
    """A `supervision.inspected` of a subject."""

    case_id: str
    seq: int
    jurisdiction: str
    subject_id: str | None
    at: datetime
    joint: bool
    violation_found: bool


@dataclass(frozen=True)
class ThresholdMet:
    """A case whose facts reach its item's criminal threshold (涉嫌犯罪), and how."""

    case: CaseFacts
    threshold: CriminalThreshold
    by: str  # "amount" (own facts), "cumulative" (with earlier acts), "quantity",
    #          "conduct" or "repeat"
    total: float
    added_from: tuple[str, ...]
    known_at: datetime  # when the last fact needed became known
    condition: Condition | None = None

    def describe(self) -> str:
        """A sentence for people, in zh-CN: which condition was met ("污染环境罪：危险废物
        3.2 吨 ≥ 3 吨")."""
        t = self.threshold
        c = self.condition or t.conditions[0]
        if self.by == "repeat":
            rule = c.repeat
            window = f"{rule.within_years} 年内" if rule and rule.within_years else "（不限年限）"
            return (f"{t.crime}：{window}已因同类行为受行政处罚 {len(self.added_from)} 次"
                    f"（{'、'.join(self.added_from)}），又再次实施")
        if self.by == "conduct":
            return f"{t.crime}：{c.label or c.conduct}（行为本身即达追诉标准）"
        if self.by == "quantity":
            unit = c.unit or ""
            return (f"{t.crime}：{c.label or c.quantity} {self.total:g} {unit} ≥ "
                    f"{c.value or 0:g} {unit}")
        what = (METRIC_LABELS[c.metric] if c.metric is not None else " + ".join(
            METRIC_LABELS[m] + ("" if w == 1 else f"×{w:g}") for m, w in (c.sum or {}).items()))
        added = (f"，累计此前未经处理的 {'、'.join(self.added_from)}" if self.added_from else "")
        return f"{t.crime}：{what} {_yuan(self.total)} 元 ≥ {_yuan(c.value or 0)} 元{added}"


def _yuan(amount: float) -> str:
    return yuan(amount).removesuffix(" 元")


#: 危害后果, as a decision's investigation found it.
_HARM = {"none": "无危害后果", "minor": "危害后果轻微", "serious": "危害后果严重"}


def _upto(moment: datetime | None, limit: datetime) -> datetime | None:
    return moment if moment is not None and moment <= limit else None


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


@dataclass(frozen=True)
class ReferralClock:
    """应移未移's clock of one case, with what the alert adds to the clock's own words."""

    clock: Clock
    reason: str
    crime: str
    subject_id: str | None

    def alert(self, as_of: datetime) -> dict[str, Any] | None:
        """The alert as of an instant (yellow or red), or None."""
        evaluation = evaluate(self.clock, as_of)
        if evaluation is None or evaluation.colour == "green":
            return None
        alert = evaluation.as_alert()
        alert["detail"] += f"：{self.reason}"
        return alert | {"crime": self.crime, "subject_id": self.subject_id}


class CrossFacts:
    """The facts the checks look at, as of an instant: cases, decisions and inspections
    (those after the instant left out), indexed by subject."""

    def __init__(self, pack: RulePack, calendar: WorkCalendar, cases: Iterable[CaseFacts],
                 decisions: Iterable[Decision], inspections: Iterable[Inspection],
                 as_of: datetime) -> None:
        self.pack = pack
        self.calendar = calendar
        self.as_of = as_of
        self.cases = {c.case_id: c.as_of(as_of) for c in cases}
        self.decisions = sorted((d for d in decisions if d.decided_at <= as_of),
                                key=lambda d: (d.decided_at, d.case_id, d.seq))
        self.inspections = sorted((i for i in inspections if i.at <= as_of),
                                  key=lambda i: (i.at, i.case_id, i.seq))
        self.by_subject: dict[str, list[CaseFacts]] = defaultdict(list)
        for case in sorted(self.cases.values(), key=lambda c: c.case_id):
            if case.subject_id:
                self.by_subject[case.subject_id].append(case)
        self.decisions_of: dict[str, list[Decision]] = defaultdict(list)
        for decision in self.decisions:
            if decision.subject_id:
                self.decisions_of[decision.subject_id].append(decision)

    def version(self, moment: datetime) -> RuleVersion:
        """The pack version in force on the day of `moment`."""
        return self.pack.at(moment.isoformat()) or self.pack.versions[0]



class Thresholds:
    """行刑衔接: which concluded cases reach a criminal threshold of their item — by their own
    amount, with the subject's earlier unpunished acts added up, or by repeated penalties."""

    def __init__(self, facts: CrossFacts) -> None:
        self.facts = facts
        self._met: list[ThresholdMet] | None = None  # the facts do not change: once

    def thresholds_met(self) -> list[ThresholdMet]:
        """Every concluded case whose facts reach a criminal threshold of its item."""
        if self._met is None:
            self._met = self._all_met()
        return list(self._met)

    def _all_met(self) -> list[ThresholdMet]:
        found = []
        for case in sorted(self.facts.cases.values(), key=lambda c: c.case_id):
            met = self.threshold_met(case)
            if met is not None:
                found.append(met)
        return found

    def threshold_met(self, case: CaseFacts) -> ThresholdMet | None:
        """The first condition of the first threshold of the case's item that its facts
        meet, or None."""
        if case.concluded_at is None or not case.item_code:
            return None
        version = self.facts.version(case.concluded_at)
        item = version.item(case.item_code)
        if item is None:
            return None
        for threshold in item.thresholds:
            if not threshold.applies_to(case.subject_kind):
                continue
            for condition in threshold.conditions:
                met = self._meets(case, threshold, condition, version)
                if met is not None:
                    return met
        return None

    def _meets(self, case: CaseFacts, threshold: CriminalThreshold, condition: Condition,
               version: RuleVersion) -> ThresholdMet | None:
        concluded = case.concluded_at
        assert concluded is not None
        kind = condition.kind
        if kind == "repeat":
            return self._by_repeat(case, threshold, condition, version)
        if kind == "conduct":
            return (ThresholdMet(case, threshold, "conduct", 1.0, (), concluded, condition)
                    if condition.conduct in case.conduct else None)
        value = float(condition.value or 0)
        own = case.measure(condition)
        if kind == "quantity":
            return (ThresholdMet(case, threshold, "quantity", own, (), concluded, condition)
                    if own >= value else None)
        if own >= value:
            return ThresholdMet(case, threshold, "amount", own, (), concluded, condition)
        earlier = self._earlier_unpunished(case, _kin(version, threshold.crime, case))
        total = own + sum(o.measure(condition) for o in earlier)
        if not earlier or total < value:
            return None
        known = max([concluded, *(o.concluded_at for o in earlier if o.concluded_at)])
        return ThresholdMet(case, threshold, "cumulative", total,
                            tuple(o.case_id for o in earlier), known, condition)

    def _earlier_unpunished(self, case: CaseFacts, items: frozenset[str]) -> list[CaseFacts]:
        """The subject's concluded cases under the same crime's items for earlier acts that
        were neither penalised nor transferred to the police (未经处理)."""
        if not case.subject_id or case.act_date is None:
            return []
        out = []
        for other in self.facts.by_subject[case.subject_id]:
            if (other.case_id == case.case_id or other.item_code not in items
                    or other.act_date is None or other.concluded_at is None
                    or (other.act_date, other.case_id) >= (case.act_date, case.case_id)):
                continue
            if not self._handled(other):
                out.append(other)
        return out

    def _handled(self, case: CaseFacts) -> bool:
        if "transferred" in case.referral:
            return True
        return any(d.case_id == case.case_id and d.penalised
                   for d in self.facts.decisions_of.get(case.subject_id or "", []))

    def _by_repeat(self, case: CaseFacts, threshold: CriminalThreshold, condition: Condition,
                   version: RuleVersion) -> ThresholdMet | None:
        rule = condition.repeat
        assert rule is not None and case.concluded_at is not None
        if not case.subject_id or case.act_date is None:
            return None
        kin = _kin(version, rule.same or threshold.crime, case)
        since = (_years_before(case.act_date, rule.within_years) if rule.within_years
                 else date.min)
        prior = [d for d in self.facts.decisions_of.get(case.subject_id, [])
                 if d.case_id != case.case_id and d.penalised and d.item_code in kin
                 and since <= d.decided_on < case.act_date]
        cases = sorted({d.case_id for d in prior})
        if len(cases) < rule.penalties:
            return None
        return ThresholdMet(case, threshold, "repeat", float(len(cases)), tuple(cases),
                            case.concluded_at, condition)


def _kin(version: RuleVersion, crime: str, case: CaseFacts) -> frozenset[str]:
    """The items whose acts count toward one crime: those with a threshold of that crime
    (the case's own item always)."""
    kin = version.items_of_crime(crime)
    return kin | {case.item_code} if case.item_code else kin


class Findings:
    """The cross-case alerts: REFERRAL_MISSING, PENALTY_INSTEAD_OF_REFERRAL,
    FIRST_VIOLATION_FINED, DOUBLE_FINE, REPEATED_INSPECTION."""

    def __init__(self, facts: CrossFacts, thresholds: Thresholds) -> None:
        self.facts = facts
        self.thresholds = thresholds

    def all(self) -> list[dict[str, Any]]:
        """REFERRAL_MISSING, PENALTY_INSTEAD_OF_REFERRAL, FIRST_VIOLATION_FINED, DOUBLE_FINE,
        REPEATED_INSPECTION as of the instant (yellow, red or info)."""
        found = [alert for clock in self.referral_clocks()
                 for alert in [clock.alert(self.facts.as_of)] if alert is not None]
        return found + self.fixed()

    def fixed(self) -> list[dict[str, Any]]:
        """The findings that do not run against a clock: PENALTY_INSTEAD_OF_REFERRAL,
        FIRST_VIOLATION_FINED, DOUBLE_FINE, REPEATED_INSPECTION (each true from an instant
        on, as long as the facts stand)."""
        met = {m.case.case_id: m for m in self.thresholds.thresholds_met()}
        return (self._penalty_instead_of_referral(met) + self._first_violation_fined()
                + self._double_fines() + self._repeated_inspections())

    def referral_clocks(self) -> list[ReferralClock]:
        """Decree 310 Art. 3: each case reaching a threshold must be reported for transfer
        within the pack's days — a clock from when the threshold was known (none where the
        report came at once)."""
        clocks = []
        for m in self.thresholds.thresholds_met():
            reported = m.case.referral.get("reported")
            if reported is not None and reported <= m.known_at:
                continue
            days = self.facts.version(m.known_at).general.referral_missing_days
            due, note = self._due(m.known_at, days)
            clocks.append(ReferralClock(
                Clock(case_id=m.case.case_id, code="REFERRAL_MISSING", part="",
                      jurisdiction=m.case.jurisdiction, started_at=m.known_at, base_due=due,
                      stopped_at=reported, note=note),
                m.describe(), m.threshold.crime, m.case.subject_id))
        return clocks

    def _penalty_instead_of_referral(self, met: dict[str, ThresholdMet]
                                     ) -> list[dict[str, Any]]:
        """Decree 310 Art. 11: no administrative fine in place of a transfer."""
        out = []
        for d in self.facts.decisions:
            m = met.get(d.case_id)
            if m is None or not d.penalised or d.fine <= 0 or d.decided_at < m.known_at:
                continue
            transferred = m.case.referral.get("transferred")
            if transferred is not None and transferred <= d.decided_at:
                continue
            out.append(self._finding("PENALTY_INSTEAD_OF_REFERRAL", d.case_id, d.jurisdiction,
                                     "red", d.decided_at,
                                     f"已决定罚款 {yuan(d.fine)}，未移送公安机关；{m.describe()}",
                                     crime=m.threshold.crime, subject_id=d.subject_id))
        return out

    def _first_violation_fined(self) -> list[dict[str, Any]]:
        """APL Art. 33 para 1, second sentence: a first violation, minor harm, corrected in time, on the
        首违不罚 list, may go unpunished — a fine is worth a second look."""
        out = []
        for d in self.facts.decisions:
            if not d.penalised or d.fine <= 0 or not d.item_code or d.act_date is None:
                continue
            item = self.facts.version(d.decided_at).item(d.item_code)
            if (item is None or not item.first_violation_exempt or not d.corrected
                    or d.harm not in ("none", "minor")):
                continue
            earlier = [o for o in self.facts.decisions_of.get(d.subject_id or "", [])
                       if o.case_id != d.case_id and o.penalised and o.item_code == d.item_code
                       and o.act_date is not None and o.act_date < d.act_date]
            if earlier:
                continue
            out.append(self._finding("FIRST_VIOLATION_FINED", d.case_id, d.jurisdiction, "info",
                                     d.decided_at, f"事项 {d.item_code} 罚款 {yuan(d.fine)}；初次违法，"
                                     f"{_HARM[d.harm]}，已改正",
                                     subject_id=d.subject_id))
        return out

    def _double_fines(self) -> list[dict[str, Any]]:
        """APL Art. 29: one illegal act is fined once (一事不再罚)."""
        groups: dict[tuple[str, str, date], list[Decision]] = defaultdict(list)
        for d in self.facts.decisions:
            if d.penalised and d.fine > 0 and d.subject_id and d.item_code and d.act_date:
                groups[(d.subject_id, d.item_code, d.act_date)].append(d)
        out = []
        repeated = [(key, fines) for key, fines in groups.items() if len(fines) > 1]
        for (subject, item, act), fines in sorted(repeated):
            first = fines[0]
            for d in fines[1:]:
                if d.case_id == first.case_id:
                    continue  # a new decision of the same case (after a reconsideration)
                out.append(self._finding(
                    "DOUBLE_FINE", d.case_id, d.jurisdiction, "red", d.decided_at,
                    f"当事人 {subject} 于 {act} 的同一违法行为（事项 {item}）已在案件 "
                    f"{first.case_id} 中被罚款", subject_id=subject, first_case_id=first.case_id))
        return out

    def _repeated_inspections(self) -> list[dict[str, Any]]:
        """综合查一次: a subject inspected separately again and again, nothing found."""
        fruitless: dict[str, list[Inspection]] = defaultdict(list)
        for i in self.facts.inspections:
            if i.subject_id and not i.joint and not i.violation_found:
                fruitless[i.subject_id].append(i)
        out = []
        for subject, visits in sorted(fruitless.items()):
            for n, visit in enumerate(visits):
                rule = self.facts.version(visit.at).general.repeated_inspection
                since = visit.at - timedelta(days=rule["within_days"])
                window = [v for v in visits[:n + 1] if v.at > since]
                if len(window) >= rule["inspections"]:
                    cases = sorted({v.case_id for v in window})
                    out.append(self._finding(
                        "REPEATED_INSPECTION", visit.case_id, visit.jurisdiction, "yellow",
                        visit.at, f"当事人 {subject} 在 {rule['within_days']} 日内被单独检查 "
                        f"{len(window)} 次，均未发现问题（{'、'.join(cases)}）",
                        subject_id=subject, inspection_cases=cases))
        return out

    def _finding(self, code: str, case_id: str, jurisdiction: str, severity: str,
                 at: datetime, what: str, **extra: Any) -> dict[str, Any]:
        label, rule, source = ALERT_LABELS[code]
        return {"code": code, "case_id": case_id, "severity": severity,
                "due_at": at.isoformat(), "jurisdiction": jurisdiction,
                "detail": f"{label}：{rule}（{source}）。{what}",
                "started_at": at.isoformat(), **extra}

    def _due(self, start: datetime, days: int) -> tuple[datetime, str | None]:
        try:
            return self.facts.calendar.calendar_deadline(start, days), None
        except CalendarUnknown as exc:
            end = start.astimezone(SHANGHAI).date() + timedelta(days=days + 1)
            return (datetime.combine(end, datetime.min.time(), SHANGHAI),
                    f"暂定期限：{exc}")


class SubjectRegister:
    """一户一档 and 三色管理: a subject's cases, decisions, inspections and colour."""

    def __init__(self, facts: CrossFacts, thresholds: Thresholds) -> None:
        self.facts = facts
        self.thresholds = thresholds

    def subject(self, subject_id: str, scope: str = "") -> dict[str, Any] | None:
        """一户一档: the subject's cases, decisions, fines, inspections per year, colour.

        With `scope` (a division-code prefix) only the cases inside it are shown and counted
        (docs/contract.md: reads across cases stay inside the scope); what lies outside is given as
        counts alone, without case ids, amounts or places ("辖区外另有 1 次处罚")."""
        every_case = self.facts.by_subject.get(subject_id, [])
        every_decision = self.facts.decisions_of.get(subject_id, [])
        every_visit = [i for i in self.facts.inspections if i.subject_id == subject_id]
        if not every_case and not every_decision and not every_visit:
            return None
        cases = [c for c in every_case if c.jurisdiction.startswith(scope)]
        decisions = [d for d in every_decision if d.jurisdiction.startswith(scope)]
        visits = [i for i in every_visit if i.jurisdiction.startswith(scope)]
        per_year: dict[int, dict[str, int]] = defaultdict(lambda: {"inspections": 0, "joint": 0})
        for visit in visits:
            year = per_year[visit.at.astimezone(SHANGHAI).year]
            year["inspections"] += 1
            year["joint"] += visit.joint
        colour, why = self._colour(decisions, cases)
        outside_penalties = sum(1 for d in every_decision if d.penalised) - sum(
            1 for d in decisions if d.penalised)
        return {
            "subject_id": subject_id,
            "name": next((c.subject_name for c in cases if c.subject_name), None),
            "colour": colour, "colour_reason": why,
            "cases": [{"case_id": c.case_id, "jurisdiction": c.jurisdiction,
                       "item_code": c.item_code, "team": c.team,
                       "act_date": c.act_date.isoformat() if c.act_date else None,
                       "referral_status": c.referral_state,
                       # as the referral view says it: 未报告移送 when a threshold is met
                       "referral_status_label": self._referral_label(c)} for c in cases],
            "decisions": [{"case_id": d.case_id, "decided_at": d.decided_at.isoformat(),
                           "item_code": d.item_code, "outcome": d.outcome, "fine": d.fine,
                           "circumstances": d.circumstances} for d in decisions],
            "fines_total": sum(d.fine for d in decisions if d.penalised),
            "inspections_per_year": [{"year": y, **counts}
                                     for y, counts in sorted(per_year.items())],
            "outside_scope": {"cases": len(every_case) - len(cases),
                              "penalties": outside_penalties,
                              "note": f"辖区外另有 {outside_penalties} 次处罚" if outside_penalties
                              else None},
        }

    def _referral_label(self, case: CaseFacts) -> str | None:
        """The case's 行刑衔接 status as the referral view words it (未报告移送 for a case over
        a threshold with no referral step; nothing for a case neither)."""
        if case.referral_state is not None:
            return REFERRAL_STATUS_LABELS.get(case.referral_state, case.referral_state)
        return REFERRAL_STATUS_LABELS[None] if self.thresholds.threshold_met(case) else None

    def colour(self, subject_id: str) -> tuple[str, str]:
        """三色管理: red with a serious-circumstances penalty or two penalties in the last 12
        months, yellow with one penalty in 12 months or an open correction order, else green."""
        return self._colour(self.facts.decisions_of.get(subject_id, []),
                            self.facts.by_subject.get(subject_id, []))

    def _colour(self, decisions: list[Decision], cases: list[CaseFacts]) -> tuple[str, str]:
        since = _years_before(self.facts.as_of.astimezone(SHANGHAI).date(), 1)
        recent = [d for d in decisions if d.penalised and d.decided_on > since]
        if any(d.circumstances == "serious" for d in recent):
            return "red", "12 个月内受过情节严重的行政处罚"
        if len(recent) >= 2:
            return "red", f"12 个月内受行政处罚 {len(recent)} 次"
        if recent:
            return "yellow", "12 个月内受行政处罚 1 次"
        if any(c.correction_ordered_at and not c.correction_done_at for c in cases):
            return "yellow", "责令整改尚未完成"
        return "green", "12 个月内无行政处罚，无未完成的整改"


class CrossCase:
    """The cross-case checks over a set of cases, evaluated as of an instant."""

    def __init__(self, pack: RulePack, calendar: WorkCalendar, cases: Iterable[CaseFacts],
                 decisions: Iterable[Decision], inspections: Iterable[Inspection],
                 as_of: datetime) -> None:
        self.facts = CrossFacts(pack, calendar, cases, decisions, inspections, as_of)
        self.cases = self.facts.cases
        self.as_of = as_of
        self.thresholds = Thresholds(self.facts)
        self.findings = Findings(self.facts, self.thresholds)
        self.register = SubjectRegister(self.facts, self.thresholds)

    def thresholds_met(self) -> list[ThresholdMet]:
        """Every concluded case whose facts reach a criminal threshold of its item."""
        return self.thresholds.thresholds_met()

    def threshold_met(self, case: CaseFacts) -> ThresholdMet | None:
        """The first threshold of the case's item that its facts reach, or None."""
        return self.thresholds.threshold_met(case)

    def alerts(self) -> list[dict[str, Any]]:
        """Every cross-case alert as of the instant (yellow, red or info)."""
        return self.findings.all()

    def subject(self, subject_id: str, scope: str = "") -> dict[str, Any] | None:
        """一户一档 of a subject, inside `scope` (see `SubjectRegister.subject`)."""
        return self.register.subject(subject_id, scope)

    def colour(self, subject_id: str) -> tuple[str, str]:
        """三色管理 of a subject (see `SubjectRegister.colour`)."""
        return self.register.colour(subject_id)

    def referrals(self, scope: str | None = None) -> list[dict[str, Any]]:
        """Every case that reaches a threshold or has referral steps, with status and times."""
        met = {m.case.case_id: m for m in self.thresholds_met()}
        rows = []
        for case in sorted(self.cases.values(), key=lambda c: c.case_id):
            if scope and not case.jurisdiction.startswith(scope):
                continue
            m = met.get(case.case_id)
            if m is None and not case.referral:
                continue
            rows.append({
                "case_id": case.case_id, "jurisdiction": case.jurisdiction,
                "district": case.jurisdiction[:6], "team": case.team,
                "item_code": case.item_code, "subject_id": case.subject_id,
                "subject_name": case.subject_name, "threshold_met": m is not None,
                "crime": m.threshold.crime if m else None, "by": m.by if m else None,
                "total": m.total if m else None,
                "threshold": (m.threshold.value if m and m.threshold.value is not None
                              else None),
                "added_from": list(m.added_from) if m else [],
                "reason": m.describe() if m else None,
                "known_at": m.known_at.isoformat() if m else None,
                "status": case.referral_state,
                "status_label": REFERRAL_STATUS_LABELS.get(case.referral_state,
                                                           case.referral_state),
                "times": {step: case.referral[step].isoformat()
                          for step in REFERRAL_STEPS if step in case.referral}})
        return rows

    def referral_rates(self, scope: str | None = None) -> list[dict[str, Any]]:
        """Per team and district: cases reaching a threshold, transferred, and the rate."""
        return referral_rates(self.referrals(scope))


def referral_rates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per team and district, over rows of the referral view: cases reaching a threshold,
    transferred, and the rate (Decree 310: 移送率)."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        if row["threshold_met"]:
            counts = groups[(row["team"] or "未知", row["district"])]
            counts[0] += 1
            counts[1] += "transferred" in row["times"]
    return [{"team": team, "district": district, "threshold_met": n, "transferred": sent,
             "rate": round(sent / n, 4)}
            for (team, district), (n, sent) in sorted(groups.items())]
