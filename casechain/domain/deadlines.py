"""Statutory deadlines evaluated as of an instant, with their colour (三色预警).

A running deadline (a "clock") starts at a triggering event and stops at the event that
meets it. Evaluated `as_of` an instant it is green while more than 20% of its period remains,
yellow with 20% or less, red once overdue (at or after its due instant). Suspended periods
(`penalty.clock_suspended` … `clock_resumed`) do not count: they push the due instant back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["ALERT_LABELS", "INFO_CODES", "Clock", "Evaluation", "evaluate"]

#: code → (zh-CN label, rule, legal source) for people.
ALERT_LABELS: dict[str, tuple[str, str, str]] = {
    "DECISION_OVERDUE": ("办案超期", "decision within 90 days of filing (+ extensions, "
                         "suspended periods excluded)", "APL Art. 60"),
    "SERVICE_OVERDUE": ("送达超期", "decision served within 7 working days", "APL Art. 61, 85"),
    "PAYMENT_OVERDUE": ("缴款逾期", "fine paid within 15 days of service; surcharge 3% a day, "
                        "at most the fine", "APL Art. 67, 72"),
    "HEARING_NOTICE_LATE": ("听证通知过迟", "hearing notified at least 7 working days before "
                            "it is held", "APL Art. 64, 85"),
    "MEASURE_OVERDUE": ("强制措施超期", "seal or seizure released within 30 days",
                        "Administrative Coercion Law Art. 25"),
    "RESPONSE_1315": ("1315响应超时", "urgent clue: acknowledged in 1, departed in 3, arrived "
                      "in 15 minutes", "Hangzhou 1315 response standard"),
    "REFERRAL_MISSING": ("应移未移", "a case reaching a criminal threshold is reported for "
                         "transfer to the police within 3 days", "Decree 310 Art. 3"),
    "PENALTY_INSTEAD_OF_REFERRAL": ("以罚代刑", "no fine in place of a transfer to the police "
                                    "while the threshold is met", "Decree 310 Art. 11"),
    "REFERRAL_DECISION_OVERDUE": ("移送审批超期", "the head of the agency approves or rejects "
                                  "a referral within 3 days of the report", "Decree 310 Art. 5"),
    "REFERRAL_TRANSFER_OVERDUE": ("移送超期", "an approved referral is transferred within 24 "
                                  "hours", "Decree 310 Art. 5"),
    "HANDOVER_OVERDUE": ("涉案物品移交超期", "materials handed over within 3 days of the police "
                         "filing the case", "Decree 310 Art. 12"),
    "POLICE_FILING_OVERDUE": ("公安立案审查超期", "the police decide whether to file a "
                              "transferred case within 3 days of accepting it (7 when a clue "
                              "needs verification, 30 with the superior's approval)",
                              "Decree 310 Art. 8"),
    "RECONSIDERATION_WINDOW": ("不予立案复议期", "after a police decline, the agency may ask "
                               "the police to reconsider, or the procuratorate to supervise, "
                               "within 3 days", "Decree 310 Art. 9"),
    "POLICE_RECONSIDERATION_OVERDUE": ("公安复议超期", "the police decide on the agency's "
                                       "request for reconsideration within 3 days",
                                       "Decree 310 Art. 9"),
    "DEVICE_NOTICE_OVERDUE": ("非现场执法告知超期", "the party is told of the act a device "
                              "recorded within 5 working days of the capture",
                              "APL Art. 41 para 3"),
    "FIRST_VIOLATION_FINED": ("首违处罚", "a first violation with minor harm, corrected in time, "
                              "on the 首违不罚 list may go unpunished", "APL Art. 33 para 2"),
    "DOUBLE_FINE": ("重复罚款", "one illegal act is fined only once (一事不再罚)", "APL Art. 29"),
    "REPEATED_INSPECTION": ("重复检查", "a subject is not inspected separately again and again "
                            "with nothing found (综合查一次)",
                            "Zhejiang comprehensive administrative enforcement regulation "
                            "Art. 13"),
}

#: Codes that inform rather than warn: shown while their window is open, then gone.
INFO_CODES = frozenset({"RECONSIDERATION_WINDOW"})


@dataclass(frozen=True)
class Clock:
    """A deadline of one case: when it started, when it is due, what stopped it."""

    case_id: str
    code: str
    part: str
    jurisdiction: str
    started_at: datetime
    base_due: datetime
    suspended_seconds: float = 0.0
    suspended_since: datetime | None = None
    stopped_at: datetime | None = None
    fine: float = 0.0
    instant: bool = False  # breached when it was set (e.g. a hearing notified too late)
    note: str | None = None  # e.g. a due date counted without the year's holiday data
    # PAYMENT: periods of reconsideration or litigation, in which no surcharge accrues
    surcharge_pauses: tuple[tuple[datetime, datetime], ...] = ()


@dataclass(frozen=True)
class Evaluation:
    """A clock as of an instant."""

    clock: Clock
    due_at: datetime
    colour: str
    remaining_seconds: float
    surcharge: float

    def as_alert(self) -> dict[str, Any]:
        """The alert object of docs/contract.md: code, case_id, severity, due_at, detail."""
        label, rule, source = ALERT_LABELS[self.clock.code]
        part = f" ({self.clock.part})" if self.clock.part else ""
        detail = f"{label}{part}: {rule} — {source}"
        if self.clock.note:
            detail += f" [{self.clock.note}]"
        alert: dict[str, Any] = {
            "code": self.clock.code, "case_id": self.clock.case_id,
            "severity": self.colour, "due_at": self.due_at.isoformat(),
            "jurisdiction": self.clock.jurisdiction, "detail": detail,
            "started_at": self.clock.started_at.isoformat()}
        if self.clock.part:
            alert["step"] = self.clock.part
        if self.clock.code == "PAYMENT_OVERDUE":
            alert["surcharge"] = self.surcharge
        return alert


def evaluate(clock: Clock, as_of: datetime, surcharge_per_day: float = 0.03) -> Evaluation | None:
    """The clock's state as of an instant; None when it had stopped by then or had not yet
    started."""
    if as_of < clock.started_at:
        return None
    if clock.stopped_at is not None and clock.stopped_at <= as_of and not clock.instant:
        return None
    suspended = clock.suspended_seconds
    if clock.suspended_since is not None and clock.suspended_since <= as_of:
        suspended += (as_of - clock.suspended_since).total_seconds()
    due = clock.base_due + timedelta(seconds=suspended)
    period = (clock.base_due - clock.started_at).total_seconds()
    remaining = (due - as_of).total_seconds()
    if clock.code in INFO_CODES:
        if remaining <= 0:
            return None
        colour = "info"
    elif clock.instant or remaining <= 0:
        colour = "red"
    elif remaining <= 0.2 * period:
        colour = "yellow"
    else:
        colour = "green"
    surcharge = 0.0
    if clock.code == "PAYMENT_OVERDUE" and remaining <= 0:
        # 3% for each day begun since the due instant, not counting reconsideration or
        # litigation (APL Art. 73), at most the fine (Art. 72).
        accruing = -remaining - sum(
            max(0.0, (min(until, as_of) - max(since, due)).total_seconds())
            for since, until in clock.surcharge_pauses)
        days = int(accruing // 86400) + 1 if accruing > 0 else 0
        surcharge = round(min(clock.fine, clock.fine * surcharge_per_day * days), 2)
    return Evaluation(clock, due, colour, remaining, surcharge)
