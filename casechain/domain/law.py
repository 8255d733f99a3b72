"""The legal rules of docs/contract.md ("Lifecycle and rejections"), read from the rule pack.

`LawBook` is the rule book the engine consults before appending: the lifecycle
(`LIFECYCLE_ORDER`) and, per event type, the rules of the Administrative Penalty Law (APL,
2021) and of State Council Decree 310 (行政执法机关移送涉嫌犯罪案件的规定). The parameters
(limitation years, hearing thresholds, summary limits, benchmarks, statutory maxima) come from
the pack version in force on the event's `occurred_at`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from casechain.domain.calendar import SHANGHAI, CalendarUnknown, WorkCalendar
from casechain.domain.case import REFERRAL_PENDING_STATES, CaseFile
from casechain.domain.envelope import Envelope
from casechain.domain.lifecycle import check_lifecycle
from casechain.domain.rulepack import (
    Facts,
    Item,
    RulePack,
    RuleVersion,
    resolve_max,
    resolve_range,
)
from casechain.errors import Rejection

__all__ = ["LawBook", "amount_of", "fine_total"]

_EPSILON = 0.005  # amounts are compared to the fen
Check = Callable[["LawBook", CaseFile, Envelope, RuleVersion | None], list[Rejection]]


class LawBook:
    """Checks an envelope against the lifecycle and the law in force on its `occurred_at`."""

    def __init__(self, pack: RulePack, calendar: WorkCalendar) -> None:
        self.pack = pack
        self.calendar = calendar

    def check(self, case: CaseFile, envelope: Envelope) -> list[Rejection]:
        """Every rule `envelope` breaks when appended to `case`."""
        rejections = check_lifecycle(case, envelope)
        check = _CHECKS.get(envelope.type)
        if check is not None:
            version = self.pack.in_force(_local_date(envelope.occurred_at))
            rejections += check(self, case, envelope, version)
        return rejections

    def item(self, version: RuleVersion | None, code: str | None) -> Item | None:
        """The catalogue item in force, or None."""
        return version.item(code) if version is not None and code else None


# -- the checks, one per event type -----------------------------------------------------------
def _case_filed(book: LawBook, case: CaseFile, env: Envelope,
                version: RuleVersion | None) -> list[Rejection]:
    payload = env.payload
    out = _unknown_items(case, env, version, [payload.item_code], "payload.item_code")
    general = version.general if version else book.pack.versions[0].general
    needed = general.officers_required_summary if payload.procedure == "summary" else (
        general.officers_required)
    out += _officers(case, "payload.officers", payload.officers, needed,
                     "APL Art. 42 (two or more officers with enforcement certificates; "
                     "summary procedure Art. 52: one)")
    item = book.item(version, payload.item_code)
    if item is not None:
        years = general.long_limitation_years if item.long_limitation else general.limitation_years
        filed_on = _local_date(env.occurred_at)
        last_day = _add_years(payload.act_date, years)
        if filed_on > last_day:
            out.append(Rejection(
                "LIMITATION_EXPIRED",
                f"case {case.case_id}: field payload.act_date: act of {payload.act_date} filed on "
                f"{filed_on}, more than {years} years later (last day {last_day}) for item "
                f"{item.code} ({item.name}) — APL Art. 36"
                + (" (5 years: life, health or financial safety)" if item.long_limitation else ""),
                "payload.act_date", payload.act_date.isoformat()))
    return out


def _approval(book: LawBook, case: CaseFile, env: Envelope,
              version: RuleVersion | None) -> list[Rejection]:
    return _unknown_items(case, env, version, [env.payload.item_code], "payload.item_code")


def _inspected(book: LawBook, case: CaseFile, env: Envelope,
               version: RuleVersion | None) -> list[Rejection]:
    return _unknown_items(case, env, version, list(env.payload.item_codes), "payload.item_codes")


def _evidence(book: LawBook, case: CaseFile, env: Envelope,
              version: RuleVersion | None) -> list[Rejection]:
    needed = 1 if case.procedure == "summary" else 2
    return _officers(case, "payload.collected_by", env.payload.collected_by, needed,
                     "APL Art. 42, 55 (evidence collected by at least two officers)")


def _referral_reported(book: LawBook, case: CaseFile, env: Envelope,
                       version: RuleVersion | None) -> list[Rejection]:
    return _officers(case, "payload.officers", env.payload.officers, 2,
                     "Decree 310 Art. 5 (the referral report is made by the officers in charge)")


def _notice(book: LawBook, case: CaseFile, env: Envelope,
            version: RuleVersion | None) -> list[Rejection]:
    payload = env.payload
    out = _fine_amounts(case, "payload.proposed", payload.proposed)
    if version is None or payload.hearing_right:
        return out
    general = version.general
    kind = _subject_kind(case)
    reasons = []
    for penalty in payload.proposed:
        if penalty.kind in general.hearing_kinds:
            reasons.append(f"{penalty.kind} is proposed")
        elif penalty.kind == "fine" and (penalty.amount or 0) >= _by_kind(general.hearing_fine, kind):
            reasons.append(f"a fine of {_yuan(penalty.amount)} reaches the hearing threshold "
                           f"{_yuan(_by_kind(general.hearing_fine, kind))} for a {kind}")
        elif penalty.kind == "confiscation" and (penalty.amount or 0) >= _by_kind(
                general.hearing_confiscation, kind):
            reasons.append(f"confiscation of {_yuan(penalty.amount)} reaches the hearing threshold "
                           f"{_yuan(_by_kind(general.hearing_confiscation, kind))} for a {kind}")
    if reasons:
        out.append(Rejection(
            "NOTICE_REQUIRED",
            f"case {case.case_id}: field payload.hearing_right is false but {'; '.join(reasons)}: "
            "the notice must tell the party of the right to a hearing — APL Art. 44, 63",
            "payload.hearing_right", False))
    return out


def _decided(book: LawBook, case: CaseFile, env: Envelope,
             version: RuleVersion | None) -> list[Rejection]:
    payload = env.payload
    out = _fine_amounts(case, "payload.penalties", payload.penalties)
    if not case.seen("penalty.case_filed"):
        return out  # nothing to judge yet: the lifecycle reports the missing filing
    general = version.general if version else book.pack.versions[0].general
    penalising = payload.outcome == "penalty"
    fine = fine_total(payload.penalties)
    where = f"case {case.case_id}"
    decided_at: datetime = env.occurred_at
    notice = case.notice
    if penalising and case.procedure != "summary" and notice is None:
        out.append(Rejection("NOTICE_REQUIRED", f"{where}: penalty decided without "
                             "penalty.notice_served: the party must first be told the proposed "
                             "penalty, its facts, grounds and rights — APL Art. 44", "type",
                             env.type))
    if notice is not None and notice.get("hearing_right") and not (
            case.seen("penalty.hearing_waived") or case.seen("penalty.hearing_held")):
        out += _hearing_window(book, case, env, decided_at, general.hearing_request_working_days)
    facts = case.facts or {}
    hearing_right = notice is not None and bool(notice.get("hearing_right"))
    if (hearing_right or facts.get("major_or_complex")) and case.review_opinion != "approve":
        why = "a hearing right was notified" if hearing_right else "the case is major or complex"
        state = (f"the last legal review opinion is {case.review_opinion}"
                 if case.review_opinion else "no legal review is recorded")
        out.append(Rejection("LEGAL_REVIEW_REQUIRED", f"{where}: decided while {state}; "
                             f"{why}, so an approving legal review (法制审核) is required "
                             "first — APL Art. 58", "type", env.type))
    if facts.get("circumstances") == "serious" and not case.seen(
            "penalty.collective_discussion_held"):
        out.append(Rejection("COLLECTIVE_DISCUSSION_REQUIRED", f"{where}: circumstances are "
                             "serious and no penalty.collective_discussion_held is recorded: "
                             "the heads of the agency decide collectively — APL Art. 57",
                             "type", env.type))
    if penalising and facts.get("circumstances") == "minor" and facts.get("harm") == "none" and (
            facts.get("corrected")):
        out.append(Rejection("MINOR_NO_PENALTY", f"{where}: field payload.outcome is penalty for a "
                             "minor act with no harmful consequence, corrected in time: no "
                             "penalty shall be given — APL Art. 33 para 1", "payload.outcome",
                             payload.outcome))
    if penalising and fine > 0 and case.referral_state in REFERRAL_PENDING_STATES:
        out.append(Rejection("REFERRAL_PENDING", f"{where}: a fine of {_yuan(fine)} decided while "
                             f"the referral to the police is at {case.referral_state}; wait for "
                             "the police to decline or return the case — Decree 310 Art. 11",
                             "payload.penalties", fine))
    if penalising:
        out += _amount_rules(book, case, env, version, fine, general)
        if notice is not None:
            out += _heavier_than_notice(case, payload.penalties, notice)
    return out


def _hearing_window(book: LawBook, case: CaseFile, env: Envelope, decided_at: datetime,
                    days: int) -> list[Rejection]:
    where = f"case {case.case_id}"
    if case.seen("penalty.hearing_requested"):
        return [Rejection("HEARING_WINDOW_OPEN", f"{where}: a hearing was requested and has not "
                          "been held (penalty.hearing_held) or waived — APL Art. 64", "type",
                          env.type)]
    noticed = datetime.fromisoformat(str(case.notice_at))
    try:
        closes = book.calendar.workday_deadline(noticed, days)
    except CalendarUnknown as exc:
        return [Rejection("HEARING_WINDOW_OPEN", f"{where}: cannot tell whether the {days}-working-"
                          f"day hearing window has closed: {exc} — APL Art. 64, 85", "type",
                          env.type)]
    if decided_at < closes:
        return [Rejection("HEARING_WINDOW_OPEN", f"{where}: field occurred_at "
                          f"{env.occurred_at.isoformat()} is inside the {days}-working-day window "
                          f"to request a hearing after the notice of "
                          f"{noticed.astimezone(SHANGHAI).date()} (open until "
                          f"{closes.isoformat()}), and no hearing was waived or held — "
                          "APL Art. 64, 85", "occurred_at", env.occurred_at.isoformat())]
    return []


def _amount_rules(book: LawBook, case: CaseFile, env: Envelope, version: RuleVersion | None,
                  fine: float, general: Any) -> list[Rejection]:
    out: list[Rejection] = []
    where = f"case {case.case_id}"
    kind = _subject_kind(case)
    payload = env.payload
    if case.procedure == "summary":
        limit = _by_kind(general.summary_max, kind)
        other = [p.kind for p in payload.penalties if p.kind not in ("warning", "fine")]
        if fine > limit + _EPSILON or other:
            what = (f"fine {_yuan(fine)} above {_yuan(limit)} for a {kind}" if fine > limit
                    else f"{', '.join(other)} cannot be imposed")
            out.append(Rejection("SUMMARY_PROCEDURE_LIMIT", f"{where}: field payload.penalties: "
                                 f"{what} under the summary procedure (warning, or a fine up to "
                                 "200 yuan for a person and 3,000 for an organisation) — APL "
                                 "Art. 51", "payload.penalties", fine))
    item = book.item(version, case.item_code)
    if item is None or fine <= 0:
        return out
    facts = Facts.model_construct(
        amount_involved=float((case.facts or {}).get("amount_involved", 0)),
        illegal_gains=float((case.facts or {}).get("illegal_gains", 0)))
    cap = resolve_max(getattr(item.statutory_max, kind), facts)
    source = f"item {item.code} ({item.name}; {item.legal_basis})"
    if fine > cap + _EPSILON:
        out.append(Rejection("FINE_ABOVE_STATUTORY_MAX", f"{where}: field payload.penalties: fine "
                             f"{_yuan(fine)} above statutory maximum {_yuan(cap)} for a {kind} for "
                             f"{source}", "payload.penalties", fine))
    level = payload.discretion_level
    bench = item.benchmarks.get(level)
    if bench is not None:
        low, high = resolve_range(getattr(bench, kind), facts)
        if fine < low - _EPSILON or fine > high + _EPSILON:
            out.append(Rejection("DISCRETION_OUT_OF_RANGE", f"{where}: field payload.penalties: "
                                 f"fine {_yuan(fine)} outside the {level} benchmark "
                                 f"{_yuan(low)}–{_yuan(high)} for a {kind} for {source} "
                                 "(行政处罚裁量基准; APL Art. 34)", "payload.penalties", fine))
    return out


def _heavier_than_notice(case: CaseFile, penalties: Any, notice: dict[str, Any]
                         ) -> list[Rejection]:
    proposed = notice.get("proposed", [])
    kinds = {p["kind"] for p in proposed}
    heavier = [p.kind for p in penalties if p.kind not in kinds and p.kind != "warning"]
    told_fine = amount_of(proposed, "fine")
    told_confiscation = amount_of(proposed, "confiscation")
    fine = fine_total(penalties)
    confiscation = sum(float(p.amount or 0) for p in penalties if p.kind == "confiscation")
    reasons = [f"{kind} was not in the notice" for kind in heavier]
    if fine > told_fine + _EPSILON and "fine" in kinds:
        reasons.append(f"fine {_yuan(fine)} above the {_yuan(told_fine)} notified")
    if confiscation > told_confiscation + _EPSILON and "confiscation" in kinds:
        reasons.append(f"confiscation {_yuan(confiscation)} above the {_yuan(told_confiscation)} "
                       "notified")
    if not reasons:
        return []
    return [Rejection("HEAVIER_THAN_NOTICE", f"case {case.case_id}: field payload.penalties: "
                      f"{'; '.join(reasons)} (notice of {notice_date(case)}); serve a new notice "
                      "first — APL Art. 44, 45", "payload.penalties", fine)]


def notice_date(case: CaseFile) -> str:
    """The date of the last notice served, as recorded."""
    return str(case.notice_at)[:10]


# -- helpers ------------------------------------------------------------------------------
def _unknown_items(case: CaseFile, env: Envelope, version: RuleVersion | None,
                   codes: list[str], field: str) -> list[Rejection]:
    day = _local_date(env.occurred_at)
    if version is None:
        return [Rejection("UNKNOWN_ITEM", f"case {case.case_id}: field {field}: no rule pack "
                          f"version is in force on {day}; items cannot be checked", field,
                          codes[0] if codes else None)]
    return [Rejection("UNKNOWN_ITEM", f"case {case.case_id}: field {field}: item {code} is not "
                      f"in the catalogue in force on {day} (rule pack version of "
                      f"{version.effective_from})", field, code)
            for code in codes if version.item(code) is None]


def _officers(case: CaseFile, field: str, officers: Any, needed: int, source: str
              ) -> list[Rejection]:
    certified = {o.cert_no for o in officers if o.cert_no}
    if len(certified) >= needed:
        return []
    return [Rejection("OFFICERS_REQUIRED", f"case {case.case_id}: field {field} names "
                      f"{len(certified)} officer(s) with an enforcement certificate (cert_no); "
                      f"at least {needed} required — {source}", field, len(certified))]


def _fine_amounts(case: CaseFile, field: str, penalties: Any) -> list[Rejection]:
    return [Rejection("SCHEMA_INVALID", f"case {case.case_id}: field {field}.{n}.amount is "
                      f"required for a {p.kind}", f"{field}.{n}.amount", None)
            for n, p in enumerate(penalties)
            if p.kind in ("fine", "confiscation") and p.amount is None]


def fine_total(penalties: Any) -> float:
    """The total of the fines among the penalties (validated payload models)."""
    return float(sum(p.amount or 0 for p in penalties if p.kind == "fine"))


def amount_of(penalties: list[dict[str, Any]], kind: str) -> float:
    """The total amount of one kind among penalties as stored (record dicts)."""
    return float(sum(p.get("amount") or 0 for p in penalties if p["kind"] == kind))


def _subject_kind(case: CaseFile) -> str:
    return str((case.subject or {}).get("kind", "person"))


def _by_kind(value: Any, kind: str) -> float:
    return float(getattr(value, kind))


def _yuan(amount: float | None) -> str:
    value = float(amount or 0)
    return f"{value:.0f}" if value.is_integer() else f"{value:.2f}"


def _local_date(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


_CHECKS: dict[str, Check] = {
    "penalty.case_filed": _case_filed,
    "approval.granted": _approval,
    "approval.rejected": _approval,
    "supervision.inspected": _inspected,
    "penalty.evidence_collected": _evidence,
    "referral.reported": _referral_reported,
    "penalty.notice_served": _notice,
    "penalty.decided": _decided,
}
