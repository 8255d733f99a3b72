"""The lifecycle of a case: which event may come when (`LIFECYCLE_ORDER`).

The stage moves forward only: approval 审批 → supervision 监管 → penalty 处罚 (referral 行刑衔接
alongside) → evaluation 监督评价 → a new cycle. A case starts at approval, supervision or
penalty; `evaluation.completed` closes the loop and the next event starts a new cycle. Inside
a stage, each event type has the steps it needs before it (`REQUIRES`), the steps after which
it may no longer come (`NOT_AFTER`), and whether it may come only once a cycle (`ONCE`).
"""

from __future__ import annotations

from casechain.domain.case import ALONGSIDE, CaseFile
from casechain.domain.envelope import Envelope
from casechain.domain.payloads import EVENT_LABELS
from casechain.errors import Rejection

__all__ = ["ENTRY", "NOT_AFTER", "ONCE", "REFERRAL_AFTER", "REQUIRES", "check_lifecycle"]

STAGES = {"approval": 0, "supervision": 1, "penalty": 2, "evaluation": 3}

#: The events with which a case (or a new cycle) may enter each stage.
ENTRY: dict[str, frozenset[str]] = {
    "approval": frozenset({"approval.granted", "approval.rejected"}),
    "supervision": frozenset({"supervision.clue_registered", "supervision.inspected"}),
    "penalty": frozenset({"penalty.case_filed"}),
    "evaluation": frozenset({"evaluation.case_file_reviewed", "evaluation.due_diligence_exemption",
                             "evaluation.credit_updated", "evaluation.completed"}),
}
START = ENTRY["approval"] | ENTRY["supervision"] | ENTRY["penalty"]

_DECISION_MADE = ("penalty.decided", "approval.granted", "approval.rejected", "approval.revoked")
_PENALTY_OVER = ("penalty.closed", "penalty.terminated")
_BEFORE_DECISION = ("penalty.decided", *_PENALTY_OVER)

#: type → (all of these first, at least one of these first); within the current cycle.
REQUIRES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "approval.pushed_to_supervision": (("approval.granted",), ()),
    "approval.revoked": (("approval.granted",), ()),
    "supervision.dispatched": (("supervision.clue_registered",), ()),
    "supervision.acknowledged": (("supervision.dispatched",), ()),
    "supervision.departed": (("supervision.acknowledged",), ()),
    "supervision.arrived": (("supervision.departed",), ()),
    "supervision.risk_graded": (("supervision.inspected",), ()),
    "supervision.correction_ordered": (("supervision.inspected",), ()),
    "supervision.correction_verified": (("supervision.correction_ordered",), ()),
    "penalty.evidence_collected": (("penalty.case_filed",), ()),
    "penalty.measure_imposed": (("penalty.case_filed",), ()),
    "penalty.measure_released": (("penalty.measure_imposed",), ()),
    "penalty.investigation_concluded": (("penalty.case_filed",), ()),
    "penalty.legal_review_completed": (("penalty.investigation_concluded",), ()),
    "penalty.notice_served": (("penalty.investigation_concluded",), ()),
    "penalty.statement_received": (("penalty.notice_served",), ()),
    "penalty.hearing_requested": (("penalty.notice_served",), ()),
    "penalty.hearing_waived": (("penalty.notice_served",), ()),
    "penalty.hearing_noticed": (("penalty.hearing_requested",), ()),
    "penalty.hearing_held": (("penalty.hearing_noticed",), ()),
    "penalty.collective_discussion_held": (("penalty.investigation_concluded",), ()),
    "penalty.deadline_extended": (("penalty.case_filed",), ()),
    "penalty.clock_suspended": (("penalty.case_filed",), ()),
    "penalty.clock_resumed": (("penalty.clock_suspended",), ()),
    "penalty.decided": (("penalty.case_filed", "penalty.investigation_concluded"), ()),
    "penalty.decision_served": (("penalty.decided",), ()),
    "penalty.paid": (("penalty.decision_served",), ()),
    "penalty.enforcement_applied": (("penalty.decision_served",), ()),
    "penalty.closed": (("penalty.decision_served",), ()),
    "penalty.terminated": (("penalty.case_filed",), ()),
    "penalty.device_evidence_reviewed": (("penalty.case_filed",), ()),
    "penalty.party_informed": (("supervision.clue_registered",), ()),
    "evaluation.reconsideration_decided": ((), _DECISION_MADE),
    "evaluation.litigation_decided": ((), _DECISION_MADE),
}

#: type → steps after which it may not come (within the current cycle).
NOT_AFTER: dict[str, tuple[str, ...]] = {
    "approval.pushed_to_supervision": ("approval.revoked",),
    "supervision.closed": ("supervision.closed",),
    **{t: ("supervision.closed",) for t in (
        "supervision.dispatched", "supervision.acknowledged", "supervision.departed",
        "supervision.arrived", "supervision.inspected", "supervision.risk_graded",
        "supervision.correction_ordered", "supervision.correction_verified")},
    **{t: _BEFORE_DECISION for t in (
        "penalty.evidence_collected", "penalty.investigation_concluded",
        "penalty.legal_review_completed", "penalty.notice_served", "penalty.statement_received",
        "penalty.hearing_requested", "penalty.hearing_waived", "penalty.hearing_noticed",
        "penalty.hearing_held", "penalty.collective_discussion_held",
        "penalty.deadline_extended", "penalty.clock_suspended", "penalty.terminated",
        "penalty.device_evidence_reviewed")},
    **{t: _PENALTY_OVER for t in (
        "penalty.measure_imposed", "penalty.measure_released", "penalty.clock_resumed",
        "penalty.decided", "penalty.decision_served", "penalty.paid",
        "penalty.enforcement_applied", "penalty.closed", "penalty.party_informed")},
}

#: Types that come at most once a cycle.
ONCE = frozenset({"approval.granted", "approval.rejected", "approval.revoked",
                  "supervision.clue_registered", "penalty.case_filed", "penalty.decided",
                  "penalty.decision_served", "penalty.closed", "penalty.terminated",
                  "evaluation.completed"})

#: referral type → the referral states it may follow (None: no referral yet).
REFERRAL_AFTER: dict[str, frozenset[str | None]] = {
    "referral.assessed": frozenset({None, "assessed", "rejected", "returned", "police_declined"}),
    # Decree 310 Art. 9: the agency may ask the police to reconsider a decline (3 days), or
    # the procuratorate to supervise; the police decide a reconsideration in 3 days.
    "referral.reported": frozenset({None, "assessed", "returned"}),
    "referral.approved": frozenset({"reported"}),
    "referral.rejected": frozenset({"reported"}),
    "referral.transferred": frozenset({"approved"}),
    "referral.police_accepted": frozenset({"transferred"}),
    "referral.police_filed": frozenset({"transferred", "police_accepted",
                                        "reconsideration_requested",
                                        "procuratorate_supervision_requested"}),
    "referral.police_declined": frozenset({"transferred", "police_accepted",
                                           "reconsideration_requested",
                                           "procuratorate_supervision_requested"}),
    "referral.reconsideration_requested": frozenset({"police_declined"}),
    "referral.reconsideration_decided": frozenset({"reconsideration_requested"}),
    "referral.procuratorate_supervision_requested": frozenset({"police_declined"}),
    "referral.materials_handed_over": frozenset({"police_filed"}),
    "referral.returned": frozenset({"transferred", "police_accepted", "police_filed",
                                    "materials_handed_over"}),
}

_ARTICLE = "lifecycle (docs/contract.md; APL Art. 47 full-process record)"


def check_lifecycle(case: CaseFile, env: Envelope) -> list[Rejection]:
    """The LIFECYCLE_ORDER rejections for appending `env` to `case`."""
    event_type = env.type
    stage = event_type.partition(".")[0]
    if stage == "device" or case.stage == "device":
        return _device(case, env)
    starting = case.seq == 0 or (case.stage == "evaluation" and case.state == "completed")
    if starting:
        if event_type in START:
            return []
        what = "a case" if case.seq == 0 else "a new cycle (after evaluation.completed)"
        return [_order(case, env, f"{what} starts with approval.granted/rejected, "
                                  "supervision.clue_registered/inspected or penalty.case_filed")]
    if stage == "referral":
        return _referral(case, env)
    if _in_order(case, event_type, stage):
        return []
    problems: list[str] = []
    if event_type not in ALONGSIDE:
        problems += _stage_move(case, event_type, stage)
    needs_all, needs_any = REQUIRES.get(event_type, ((), ()))
    missing = [t for t in needs_all if not case.seen(t)]
    if missing:
        problems.append(f"{event_type} needs {', '.join(missing)} first")
    if needs_any and not any(case.seen(t) for t in needs_any):
        problems.append(f"{event_type} needs one of {', '.join(needs_any)} first")
    not_after = NOT_AFTER.get(event_type, ())
    if event_type == "penalty.deadline_extended" and _extends_measure(env):
        # A seal or seizure runs on its own clock, past the decision if need be: its
        # extension may come while one is running, until the penalty case is over.
        not_after = NOT_AFTER["penalty.measure_released"]
        if not _measure_running(case):
            problems.append("a measure's deadline_extended needs a seal or seizure that is "
                            "still running (penalty.measure_imposed not yet released)")
    late = [t for t in not_after if case.seen(t)]
    if late:
        problems.append(f"{event_type} cannot come after {', '.join(late)}")
    if event_type in ONCE and case.seen(event_type):
        problems.append(f"{event_type} comes once a cycle and is already recorded")
    if event_type == "penalty.clock_suspended" and case.suspended:
        problems.append("the clock is already suspended")
    if event_type == "penalty.clock_resumed" and not case.suspended:
        problems.append("the clock is not suspended")
    if event_type == "penalty.measure_released" and not _measure_running(case):
        problems.append("every measure imposed is already released")
    return [_order(case, env, text) for text in problems]


def _extends_measure(env: Envelope) -> bool:
    return getattr(env.payload, "deadline", None) == "measure"


def _measure_running(case: CaseFile) -> bool:
    return (case.counts.get("penalty.measure_released", 0)
            < case.counts.get("penalty.measure_imposed", 0))


def _in_order(case: CaseFile, event_type: str, stage: str) -> bool:
    """The common case, cheaply: nothing in the way (the full check explains what is)."""
    if event_type not in ALONGSIDE and stage != case.stage:
        return False
    counts = case.counts
    needs_all, needs_any = REQUIRES.get(event_type, ((), ()))
    for needed in needs_all:
        if needed not in counts:
            return False
    if needs_any and not any(t in counts for t in needs_any):
        return False
    for late in NOT_AFTER.get(event_type, ()):
        if late in counts:
            return False
    return not (event_type in ONCE and event_type in counts) and event_type not in _SPECIAL


_SPECIAL = frozenset({"penalty.clock_suspended", "penalty.clock_resumed",
                      "penalty.measure_released", "penalty.deadline_extended"})


def _stage_move(case: CaseFile, event_type: str, stage: str) -> list[str]:
    current = STAGES.get(case.stage or "", 0)
    target = STAGES[stage]
    if target < current:
        return [f"the stage moves forward only: the case is in {case.stage} and {event_type} "
                f"belongs to {stage}"]
    if target > current:
        if event_type not in ENTRY[stage]:
            return [f"{stage} begins with {', '.join(sorted(ENTRY[stage]))}, not {event_type}"]
        if stage == "evaluation" and case.stage == "penalty" and not any(
                case.seen(t) for t in _PENALTY_OVER):
            return ["evaluation follows a closed or terminated penalty case "
                    "(penalty.closed or penalty.terminated)"]
    return []


def _device(case: CaseFile, env: Envelope) -> list[Rejection]:
    """A device's stream (非现场执法, APL Art. 41): registered first, retired once, and
    nothing but device events in it; a case stream takes no device event."""
    if env.type == "device.registered" and case.seq == 0:
        return []
    if case.stage != "device":
        return [_order(case, env, f"{env.type} belongs to a device's own stream (case_id: "
                                  "the device id), which starts with device.registered")]
    if not env.type.startswith("device."):
        return [_order(case, env, f"{case.case_id} is a device's stream: it holds device "
                                  "events only")]
    if env.type == "device.registered":
        return [_order(case, env, "the device is already registered")]
    if case.seen("device.retired"):
        return [_order(case, env, "the device is already retired")]
    return []


def _referral(case: CaseFile, env: Envelope) -> list[Rejection]:
    allowed = REFERRAL_AFTER[env.type]
    if case.referral_state in allowed:
        return []
    now = case.referral_state or "no referral step yet"
    before = ", ".join(sorted(f"referral.{s}" if s else "the start" for s in allowed))
    return [_order(case, env, f"{env.type} follows {before}; the referral is at {now}")]


def _order(case: CaseFile, env: Envelope, text: str) -> Rejection:
    label = EVENT_LABELS.get(env.type, env.type)
    return Rejection("LIFECYCLE_ORDER", f"case {case.case_id}: field type: {env.type} "
                     f"({label}) not allowed at seq {case.seq + 1}: {text} — {_ARTICLE}",
                     "type", env.type)
