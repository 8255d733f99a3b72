"""The legal rules of docs/contract.md ("Lifecycle and rejections"), read from the rule pack.

`LawBook` is the rule book the engine consults before appending: the lifecycle
(`LIFECYCLE_ORDER`) and, per event type, the rules of the Administrative Penalty Law (APL,
2021) and of State Council Decree 310 (行政执法机关移送涉嫌犯罪案件的规定). The parameters
(limitation years, hearing thresholds, summary limits, statement periods) come from the pack
version in force on the event's `occurred_at`; a decision's amounts (statutory maximum,
benchmarks) from the version APL Art. 37 picks (从旧兼从轻: the one in force when the act
ended, unless the one at the decision is lighter for the case).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from casechain.domain.calendar import SHANGHAI, CalendarUnknown, WorkCalendar
from casechain.domain.case import REFERRAL_PENDING_STATES, CaseFile
from casechain.domain.envelope import Envelope
from casechain.domain.lifecycle import check_lifecycle
from casechain.domain.payloads import PENALTY_LABELS
from casechain.domain.rulepack import (
    LEVEL_DIGITS,
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

    def check(self, case: CaseFile, envelope: Envelope,
              related: Mapping[str, CaseFile] | None = None) -> list[Rejection]:
        """Every rule `envelope` breaks when appended to `case`; `related` holds the streams
        of the devices the case's captures come from."""
        rejections = check_lifecycle(case, envelope)
        check = _CHECKS.get(envelope.type)
        if check is not None:
            version = self.pack.in_force(_local_date(envelope.occurred_at))
            rejections += check(self, case, envelope, version)
        if (envelope.type == "penalty.decided" and case.captures
                and envelope.payload.outcome == "penalty"):
            rejections += _devices_approved(case, related or {})
        return rejections

    def item(self, version: RuleVersion | None, code: str | None) -> Item | None:
        """The catalogue item in force, or None."""
        return version.item(code) if version is not None and code else None


# -- the checks, one per event type -----------------------------------------------------------
def _case_filed(book: LawBook, case: CaseFile, env: Envelope,
                version: RuleVersion | None) -> list[Rejection]:
    payload = env.payload
    out = _unknown_items(case, env, version, [payload.item_code], "payload.item_code")
    item = book.item(version, payload.item_code)
    general = version.general if version else book.pack.versions[0].general
    out += _delegation(case, env, version, item)
    needed, source = _officers_needed(item, general)
    out += _officers(case, "payload.officers", payload.officers, needed, source)
    if item is not None:
        ended = payload.act_end_date or payload.act_date
        discovered = _discovered_on(payload.discovered_at, case.discovered_at, env.occurred_at)
        years, why = _limitation(item, general, harm=None)
        out += _limitation_check(case, item, ended, discovered, years, why, "payload.act_date"
                                 if payload.act_end_date is None else "payload.act_end_date")
    return out


def _delegation(case: CaseFile, env: Envelope, version: RuleVersion | None,
                item: Item | None) -> list[Rejection]:
    """APL Arts. 24, 38: a body below the item's level (a street on a district item, a
    district on a city one) acts only on what the pack's 赋权清单 delegates to it; a penalty
    by a body without the power is void."""
    if item is None or version is None:
        return []
    body = env.jurisdiction
    if len(body) <= LEVEL_DIGITS[item.level] or version.delegated(body, item.code):
        return []
    kind = "street (乡镇街道)" if len(body) >= LEVEL_DIGITS["street"] else (
        "district or county (区县)" if len(body) >= LEVEL_DIGITS["district"] else "body")
    return [Rejection(
        "NOT_DELEGATED",
        f"case {case.case_id}: field jurisdiction: the {kind} {body} acts on item {item.code} "
        f"({item.name}), a {item.level}-level item not delegated to it by the pack's "
        f"delegations (赋权清单, rule pack version of {version.effective_from}); a penalty by "
        "a body without the power is void — APL Arts. 24, 38", "jurisdiction", body)]


def _devices_approved(case: CaseFile, devices: Mapping[str, CaseFile]) -> list[Rejection]:
    """APL Art. 41: a penalty resting on a device's capture needs the device registered with
    its legal and technical review, its place published before the capture and not retired,
    and the capture reviewed as accurate (penalty.device_evidence_reviewed)."""
    reasons = []
    for device_id, captured in sorted(case.captures.items()):
        stream = devices.get(device_id)
        device = stream.device if stream is not None else None
        at = datetime.fromisoformat(captured)
        if device is None:
            reasons.append(f"device {device_id} is not registered (device.registered)")
            continue
        if not device.get("legal_review") or not device.get("technical_review"):
            missing = [w for w, ok in (("legal", device.get("legal_review")),
                                       ("technical", device.get("technical_review"))) if not ok]
            reasons.append(f"device {device_id} lacks its {' and '.join(missing)} review "
                           "(法制和技术审核)")
        for what, instant in (("registered", device["registered_at"]),
                              ("published (its location, 向社会公布)", device["published_at"])):
            if datetime.fromisoformat(str(instant)) > at:
                reasons.append(f"device {device_id} was {what} only on {instant}, after the "
                               f"capture of {captured}")
        if stream is not None and stream.retired_at and (
                datetime.fromisoformat(stream.retired_at) <= at):
            reasons.append(f"device {device_id} was retired on {stream.retired_at}, before "
                           f"the capture of {captured}")
        if case.capture_reviews.get(device_id) is not True:
            state = ("was reviewed as not accurate" if device_id in case.capture_reviews
                     else "was not reviewed (penalty.device_evidence_reviewed)")
            reasons.append(f"the capture of device {device_id} {state}")
    if not reasons:
        return []
    return [Rejection("DEVICE_NOT_APPROVED", f"case {case.case_id}: a penalty resting on a "
                      f"device's capture (非现场执法): {'; '.join(reasons)} — APL Art. 41",
                      "payload.outcome", "penalty")]


def _officers_needed(item: Item | None, general: Any) -> tuple[int, str]:
    """How many certified officers a step of the item needs, and the law that says so."""
    if item is not None and item.officers_min == 1:
        return 1, (f"APL Art. 42 (one officer where a law provides so: "
                   f"{item.officers_min_basis}, item {item.code})")
    return max(2, int(general.officers_required)), (
        "APL Art. 42 (at least two officers with enforcement certificates, in the summary "
        "procedure too, unless a law provides otherwise)")


def _discovered_on(given: date | datetime | None, spotted: str | None, filed: datetime) -> date:
    """The day the act was discovered: the filing's `discovered_at`, else the cycle's first
    clue or inspection, else the filing (APL Art. 36)."""
    if isinstance(given, datetime):
        return _local_date(given)
    if isinstance(given, date):
        return given
    return _day_of(spotted) if spotted else _local_date(filed)


def _day_of(text: str) -> date:
    """The Asia/Shanghai day of a stored date or instant."""
    if len(text) == 10:
        return date.fromisoformat(text)
    return _local_date(datetime.fromisoformat(text))


def _limitation(item: Item, general: Any, harm: str | None) -> tuple[int, str]:
    """Years within which the act must be discovered (APL Art. 36), and why: another law's
    period, 5 years for life, health or financial safety with harm (harm not yet known:
    provisionally 5), else 2."""
    if item.limitation_years is not None:
        return item.limitation_years, f"another law's period for item {item.code}"
    if item.long_limitation and harm != "none":
        why = ("life, health or financial safety, harm to be established by the investigation"
               if harm is None else f"life, health or financial safety with {harm} harm")
        return int(general.long_limitation_years), why
    if item.long_limitation:
        return int(general.limitation_years), (
            "life, health or financial safety but no harmful consequence was found, so the "
            "5-year period does not apply")
    return int(general.limitation_years), "the general period"


def _limitation_check(case: CaseFile, item: Item, ended: date, discovered: date, years: int,
                      why: str, field: str, value: Any = None) -> list[Rejection]:
    last_day = _add_years(ended, years)
    if discovered <= last_day:
        return []
    return [Rejection(
        "LIMITATION_EXPIRED",
        f"case {case.case_id}: field {field}: the act ended on {ended} and was discovered on "
        f"{discovered}, more than {years} years later (last day {last_day}; {why}) for item "
        f"{item.code} ({item.name}) — APL Art. 36: 违法行为在{years}年内未被发现的，不再给予"
        "行政处罚", field, ended.isoformat() if value is None else value)]


def _concluded(book: LawBook, case: CaseFile, env: Envelope,
               version: RuleVersion | None) -> list[Rejection]:
    """Art. 36 again: the 5-year period holds only where the investigation found harm."""
    item = book.item(version, case.item_code)
    if item is None or not case.act_date or not item.long_limitation:
        return []
    general = version.general if version else book.pack.versions[0].general
    years, why = _limitation(item, general, harm=env.payload.harm)
    ended = date.fromisoformat(case.act_end_date or case.act_date)
    discovered = _day_of(case.discovered_at) if case.discovered_at else _local_date(
        env.occurred_at)
    return _limitation_check(case, item, ended, discovered, years, why, "payload.harm",
                             env.payload.harm)


def _approval(book: LawBook, case: CaseFile, env: Envelope,
              version: RuleVersion | None) -> list[Rejection]:
    return _unknown_items(case, env, version, [env.payload.item_code], "payload.item_code")


def _inspected(book: LawBook, case: CaseFile, env: Envelope,
               version: RuleVersion | None) -> list[Rejection]:
    return _unknown_items(case, env, version, list(env.payload.item_codes), "payload.item_codes")


def _evidence(book: LawBook, case: CaseFile, env: Envelope,
              version: RuleVersion | None) -> list[Rejection]:
    general = version.general if version else book.pack.versions[0].general
    needed, source = _officers_needed(book.item(version, case.item_code), general)
    return _officers(case, "payload.collected_by", env.payload.collected_by, needed,
                     f"{source}; APL Art. 55 (evidence is collected by the officers)")


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
    item = book.item(version, case.item_code)
    team = item.team if item is not None else None
    fine_at = _by_kind(general.hearing_fine_of(team), kind)
    take_at = _by_kind(general.hearing_confiscation_of(team), kind)
    reasons = []
    for penalty in payload.proposed:
        if penalty.kind in general.hearing_kinds:
            reasons.append(f"{penalty.kind} ({PENALTY_LABELS.get(penalty.kind, penalty.kind)}) "
                           "is proposed")
        elif penalty.kind == "fine" and (penalty.amount or 0) >= fine_at:
            reasons.append(f"a fine of {_yuan(penalty.amount)} reaches the hearing threshold "
                           f"(较大数额) {_yuan(fine_at)} for a {kind}")
        elif penalty.kind in ("confiscation", "confiscation_of_property") and (
                penalty.amount or 0) >= take_at:
            reasons.append(f"{penalty.kind} of {_yuan(penalty.amount)} reaches the hearing "
                           f"threshold (较大数额/较大价值) {_yuan(take_at)} for a {kind}")
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
    item = book.item(version, case.item_code)
    out += _delegation(case, env, version, item)
    team = item.team if item is not None else None
    notice = case.notice
    if penalising and notice is None:
        out.append(Rejection("NOTICE_REQUIRED", f"{where}: penalty decided without "
                             "penalty.notice_served: the party must first be told the proposed "
                             "penalty, its facts, grounds and rights, in every procedure (on "
                             "the spot under the summary procedure) — APL Art. 44", "type",
                             env.type))
    if penalising and notice is not None and case.procedure != "summary":
        out += _statement_period(book, case, env, general.statement_days_of(team))
    if notice is not None and notice.get("hearing_right") and not (
            case.seen("penalty.hearing_waived") or case.seen("penalty.hearing_held")):
        out += _hearing_window(book, case, env, env.occurred_at,
                               general.hearing_request_working_days)
    out += _review_and_discussion(case, env, general, penalising)
    out += _grounds_and_confiscation(case, env, penalising)
    facts = case.facts or {}
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


def _statement_period(book: LawBook, case: CaseFile, env: Envelope, days: int
                      ) -> list[Rejection]:
    """APL Arts. 45, 62: no general-procedure penalty before the party was heard — the
    statement received or waived, a hearing held, or the pack's period run."""
    heard = ("penalty.statement_received", "penalty.statement_waived", "penalty.hearing_held")
    if days <= 0 or any(case.seen(t) for t in heard):
        return []
    where = f"case {case.case_id}"
    noticed = datetime.fromisoformat(str(case.notice_at))
    try:
        closes = book.calendar.workday_deadline(noticed, days)
    except CalendarUnknown as exc:
        return [Rejection("STATEMENT_PERIOD_OPEN", f"{where}: cannot tell whether the {days}-"
                          f"working-day statement period has run: {exc} — APL Art. 45, 62",
                          "type", env.type)]
    if env.occurred_at >= closes:
        return []
    return [Rejection("STATEMENT_PERIOD_OPEN", f"{where}: field occurred_at "
                      f"{env.occurred_at.isoformat()} is inside the {days}-working-day period "
                      f"for a statement (陈述申辩) after the notice of "
                      f"{noticed.astimezone(SHANGHAI).date()} (open until {closes.isoformat()}), "
                      "and no statement was received or waived — APL Art. 45, 62",
                      "occurred_at", env.occurred_at.isoformat())]


def _review_and_discussion(case: CaseFile, env: Envelope, general: Any, penalising: bool
                           ) -> list[Rejection]:
    """APL Art. 58 (legal review) and Art. 57 para 2 (collective discussion)."""
    out: list[Rejection] = []
    where = f"case {case.case_id}"
    facts = case.facts or {}
    why = []
    if case.seen("penalty.hearing_held"):
        why.append("a hearing was held (Art. 58 (2))")
    if facts.get("major_public_interest"):
        why.append("it concerns a major public interest (Art. 58 (1))")
    if facts.get("major_or_complex"):
        why.append("the case is major or complex (Art. 58 (3))")
    if general.legal_review == "general_procedure" and case.procedure != "summary":
        why.append("the pack's local rule reviews every general-procedure decision "
                   "(legal_review: general_procedure)")
    if why and case.review_opinion != "approve":
        state = (f"the last legal review opinion is {case.review_opinion}"
                 if case.review_opinion else "no legal review is recorded")
        out.append(Rejection("LEGAL_REVIEW_REQUIRED", f"{where}: decided while {state}; "
                             f"{'; '.join(why)}, so an approving legal review (法制审核) is "
                             "required first — APL Art. 58", "type", env.type))
    grave = [w for w, yes in (("circumstances are serious",
                               facts.get("circumstances") == "serious"),
                              ("the case is major or complex", facts.get("major_or_complex")))
             if yes]
    if penalising and grave and not case.seen("penalty.collective_discussion_held"):
        out.append(Rejection("COLLECTIVE_DISCUSSION_REQUIRED", f"{where}: {' and '.join(grave)} "
                             "and no penalty.collective_discussion_held is recorded: the heads "
                             "of the agency decide collectively (集体讨论) — APL Art. 57 para 2",
                             "type", env.type))
    return out


def _grounds_and_confiscation(case: CaseFile, env: Envelope, penalising: bool
                              ) -> list[Rejection]:
    """APL Art. 28 (illegal gains confiscated unless refunded) and Arts. 30-33 (the ground
    of a lighter or no penalty)."""
    out: list[Rejection] = []
    payload = env.payload
    where = f"case {case.case_id}"
    level = payload.discretion_level
    if level in ("mitigated", "exempted") and not payload.mitigation_grounds:
        word = "从轻或者减轻" if level == "mitigated" else "不予"
        out.append(Rejection("MITIGATION_GROUNDS_REQUIRED", f"{where}: field "
                             f"payload.mitigation_grounds is empty for discretion level {level}: "
                             f"{word}处罚 names its ground (minor_corrected, first_minor, "
                             "no_fault, minor_14_18, mental, coerced, reduced_harm, confessed, "
                             "assisted, other_law) — APL Arts. 30-33",
                             "payload.mitigation_grounds", payload.mitigation_grounds))
    gains = float((case.facts or {}).get("illegal_gains") or 0)
    kinds = {p.kind for p in payload.penalties}
    if penalising and gains > 0 and "confiscation" not in kinds and not payload.refund_ordered:
        out.append(Rejection("CONFISCATION_REQUIRED", f"{where}: field payload.penalties: the "
                             f"investigation found illegal gains of {_yuan(gains)} and the "
                             "decision neither confiscates them (confiscation) nor orders them "
                             "refunded (refund_ordered) — APL Art. 28 para 2: 当事人有违法所得，"
                             "除依法应当退赔的外，应当予以没收", "payload.penalties", gains))
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
    facts = Facts.model_construct(
        amount_involved=float((case.facts or {}).get("amount_involved", 0)),
        illegal_gains=float((case.facts or {}).get("illegal_gains", 0)))
    judging, why = _applicable(book, case, version, kind, payload.discretion_level, facts)
    item = book.item(judging, case.item_code)
    if item is None and judging is not None and why:
        out.append(Rejection("UNKNOWN_ITEM", f"{where}: field payload.outcome: item "
                             f"{case.item_code} is no longer in the catalogue in force at the "
                             f"decision (rule pack version of {judging.effective_from}): the "
                             "new rule no longer punishes the act and applies — APL Art. 37 "
                             "(从旧兼从轻)", "payload.outcome", payload.outcome))
    if item is None or fine <= 0:
        return out
    cap = resolve_max(getattr(item.statutory_max, kind), facts)
    source = f"item {item.code} ({item.name}; {item.legal_basis}{why})"
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


def _applicable(book: LawBook, case: CaseFile, at_decision: RuleVersion | None, kind: str,
                level: str, facts: Facts) -> tuple[RuleVersion | None, str]:
    """The version of the pack that judges the decision's amounts, APL Art. 37 (从旧兼从轻):
    the one in force when the act ended, unless the one at the decision is lighter for this
    case (a lower maximum or benchmark, or the item no longer punishable). The second value
    says which was chosen where the two differ ("" where they are one)."""
    if not case.act_date or at_decision is None:
        return at_decision, ""
    ended = date.fromisoformat(case.act_end_date or case.act_date)
    at_act = book.pack.in_force(ended)
    if at_act is None or at_act is at_decision:
        return at_decision, ""
    then, now = at_act.item(case.item_code or ""), at_decision.item(case.item_code or "")
    if now is None:
        return at_decision, "; no longer punishable"  # the lighter rule: no penalty
    if then is None:
        return at_decision, ""  # not in the catalogue when the act ended: judged as filed
    if _severity(now, kind, level, facts) < _severity(then, kind, level, facts):
        return at_decision, (f"; rule pack version of {at_decision.effective_from}, in force "
                             "at the decision and lighter — APL Art. 37 从旧兼从轻")
    return at_act, (f"; rule pack version of {at_act.effective_from}, in force when the act "
                    f"ended on {ended} — APL Art. 37 从旧兼从轻")


def _severity(item: Item, kind: str, level: str, facts: Facts) -> tuple[float, float]:
    """How heavy an item's rule is for a case: its maximum, then the level's benchmark top."""
    cap = resolve_max(getattr(item.statutory_max, kind), facts)
    bench = item.benchmarks.get(level)  # type: ignore[call-overload]
    top = resolve_range(getattr(bench, kind), facts)[1] if bench is not None else cap
    return cap, top


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
    "penalty.investigation_concluded": _concluded,
    "penalty.decided": _decided,
}
