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

__all__ = ["ALERT_LABELS", "Clock", "Evaluation", "evaluate"]

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
}


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


@dataclass(frozen=True)
class Evaluation:
    """A clock as of an instant."""

    clock: Clock
    due_at: datetime
    colour: str
    remaining_seconds: float
    surcharge: float

    def as_alert(self) -> dict[str, Any]:
        """The alert object of DESIGN.md: code, case_id, severity, due_at, detail."""
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
    if clock.instant or remaining <= 0:
        colour = "red"
    elif remaining <= 0.2 * period:
        colour = "yellow"
    else:
        colour = "green"
    surcharge = 0.0
    if clock.code == "PAYMENT_OVERDUE" and remaining <= 0:
        days = int(-remaining // 86400) + 1
        surcharge = round(min(clock.fine, clock.fine * surcharge_per_day * days), 2)
    return Evaluation(clock, due, colour, remaining, surcharge)
