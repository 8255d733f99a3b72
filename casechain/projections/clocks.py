"""The deadlines view: every statutory clock of every case, started and stopped by events.

Evaluated as of an instant by `casechain.domain.deadlines.evaluate`; `casechain alerts`
lists the yellow and red ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from casechain.domain.calendar import SHANGHAI, CalendarUnknown, WorkCalendar
from casechain.domain.deadlines import Clock
from casechain.domain.rulepack import General, RulePack

__all__ = ["ClocksView", "read_clocks"]

Records = Sequence[tuple[int, dict[str, Any]]]
_STEPS = ("acknowledged", "departed", "arrived")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


class ClocksView:
    """Deadlines (期限): DECISION, SERVICE, PAYMENT, HEARING_NOTICE, MEASURE, RESPONSE_1315."""

    name = "deadlines"

    def __init__(self, pack: RulePack, calendar: WorkCalendar) -> None:
        self.pack = pack
        self.calendar = calendar

    def define(self, metadata: sa.MetaData) -> list[sa.Table]:
        self.table = sa.Table(
            "casechain_view_clocks", metadata,
            sa.Column("case_id", sa.String(64), primary_key=True),
            sa.Column("code", sa.String(32), primary_key=True),
            sa.Column("part", sa.String(32), primary_key=True),
            sa.Column("jurisdiction", sa.String(12), nullable=False),
            sa.Column("started_at", sa.String(40), nullable=False),
            sa.Column("base_due", sa.String(40), nullable=False),
            sa.Column("days", sa.Integer(), nullable=False),
            sa.Column("suspended_seconds", sa.Float(), nullable=False),
            sa.Column("suspended_since", sa.String(40)),
            sa.Column("stopped_at", sa.String(40)),
            sa.Column("fine", sa.Float(), nullable=False),
            sa.Column("instant", sa.Boolean(), nullable=False),
            sa.Column("urgent", sa.Boolean(), nullable=False),
            sa.Column("note", sa.Text()),
        )
        return [self.table]

    def apply(self, conn: Connection, records: Records) -> None:
        for _position, record in records:
            handler = getattr(self, "_" + record["type"].replace(".", "_"), None)
            if handler is not None:
                handler(conn, record)

    # -- helpers ------------------------------------------------------------------------
    def _general(self, record: dict[str, Any]) -> General:
        day = _at(record["occurred_at"]).astimezone(SHANGHAI).date()
        version = self.pack.in_force(day) or self.pack.versions[0]
        return version.general

    def _start(self, conn: Connection, record: dict[str, Any], code: str,
               due: datetime | tuple[datetime, str | None], *, part: str = "", days: int = 0,
               fine: float = 0.0, instant: bool = False, urgent: bool = False) -> None:
        base_due, note = due if isinstance(due, tuple) else (due, None)
        t = self.table.c
        conn.execute(self.table.delete().where(sa.and_(
            t.case_id == record["case_id"], t.code == code, t.part == part)))
        conn.execute(self.table.insert().values(
            case_id=record["case_id"], code=code, part=part, jurisdiction=record["jurisdiction"],
            started_at=record["occurred_at"], base_due=base_due.isoformat(), days=days,
            suspended_seconds=0.0, suspended_since=None, stopped_at=None, fine=fine,
            instant=instant, urgent=urgent, note=note))

    def _stop(self, conn: Connection, record: dict[str, Any], codes: tuple[str, ...],
              part: str | None = None) -> None:
        t = self.table.c
        where = [t.case_id == record["case_id"], t.code.in_(codes), t.stopped_at.is_(None),
                 t.instant.is_(False)]
        if part is not None:
            where.append(t.part == part)
        conn.execute(self.table.update().where(sa.and_(*where)).values(
            stopped_at=record["occurred_at"]))

    def _deadline(self, start: str, days: int, working: bool) -> tuple[datetime, str | None]:
        """The due instant, and a note when it could not use the statutory calendar."""
        moment = _at(start)
        try:
            return (self.calendar.workday_deadline(moment, days) if working
                    else self.calendar.calendar_deadline(moment, days)), None
        except CalendarUnknown as exc:
            # Not a silent guess: the clock carries the note into every alert it raises,
            # until the year's holidays are added to the pack and the view is rebuilt.
            end = moment.astimezone(SHANGHAI).date() + timedelta(days=days)
            due = datetime.combine(end + timedelta(days=1), datetime.min.time(), SHANGHAI)
            return due, (f"provisional due date: {exc}; counted as {days} plain days "
                         "until then")

    # -- handlers -----------------------------------------------------------------------
    def _penalty_case_filed(self, conn: Connection, r: dict[str, Any]) -> None:
        days = self._general(r).decision_days
        self._start(conn, r, "DECISION_OVERDUE", self._deadline(r["occurred_at"], days, False),
                    days=days)

    def _penalty_deadline_extended(self, conn: Connection, r: dict[str, Any]) -> None:
        t = self.table.c
        for row in conn.execute(sa.select(t.started_at, t.days).where(sa.and_(
                t.case_id == r["case_id"], t.code == "DECISION_OVERDUE"))):
            days = row.days + int(r["payload"]["days"])
            due, note = self._deadline(row.started_at, days, False)
            conn.execute(self.table.update().where(sa.and_(
                t.case_id == r["case_id"], t.code == "DECISION_OVERDUE")).values(
                days=days, base_due=due.isoformat(), note=note))

    def _penalty_clock_suspended(self, conn: Connection, r: dict[str, Any]) -> None:
        t = self.table.c
        conn.execute(self.table.update().where(sa.and_(
            t.case_id == r["case_id"], t.code == "DECISION_OVERDUE",
            t.suspended_since.is_(None))).values(suspended_since=r["occurred_at"]))

    def _penalty_clock_resumed(self, conn: Connection, r: dict[str, Any]) -> None:
        t = self.table.c
        for row in conn.execute(sa.select(t.suspended_since, t.suspended_seconds).where(sa.and_(
                t.case_id == r["case_id"], t.code == "DECISION_OVERDUE",
                t.suspended_since.is_not(None)))):
            paused = (_at(r["occurred_at"]) - _at(row.suspended_since)).total_seconds()
            conn.execute(self.table.update().where(sa.and_(
                t.case_id == r["case_id"], t.code == "DECISION_OVERDUE")).values(
                suspended_since=None, suspended_seconds=row.suspended_seconds + paused))

    def _penalty_decided(self, conn: Connection, r: dict[str, Any]) -> None:
        self._stop(conn, r, ("DECISION_OVERDUE",))
        days = self._general(r).service_working_days
        self._start(conn, r, "SERVICE_OVERDUE", self._deadline(r["occurred_at"], days, True),
                    days=days, fine=float(sum(p.get("amount") or 0 for p in r["payload"]
                                              ["penalties"] if p["kind"] == "fine")))

    def _penalty_decision_served(self, conn: Connection, r: dict[str, Any]) -> None:
        t = self.table.c
        fine = conn.execute(sa.select(t.fine).where(sa.and_(
            t.case_id == r["case_id"], t.code == "SERVICE_OVERDUE"))).scalar() or 0.0
        self._stop(conn, r, ("SERVICE_OVERDUE",))
        if fine > 0:
            days = self._general(r).payment_days
            self._start(conn, r, "PAYMENT_OVERDUE", self._deadline(r["occurred_at"], days, False),
                        days=days, fine=fine)

    def _penalty_paid(self, conn: Connection, r: dict[str, Any]) -> None:
        self._stop(conn, r, ("PAYMENT_OVERDUE",))

    def _penalty_closed(self, conn: Connection, r: dict[str, Any]) -> None:
        self._stop(conn, r, tuple(c for c in _ALL if c != "HEARING_NOTICE_LATE"))

    _penalty_terminated = _penalty_closed

    def _penalty_hearing_noticed(self, conn: Connection, r: dict[str, Any]) -> None:
        days = self._general(r).hearing_notice_working_days
        earliest = self._deadline(r["occurred_at"], days, True)[0] - timedelta(days=1)
        hearing_at = _at(r["payload"]["hearing_at"])
        if hearing_at < earliest:
            self._start(conn, r, "HEARING_NOTICE_LATE", hearing_at, days=days, instant=True)

    def _penalty_measure_imposed(self, conn: Connection, r: dict[str, Any]) -> None:
        days = self._general(r).measure_days
        self._start(conn, r, "MEASURE_OVERDUE", self._deadline(r["occurred_at"], days, False),
                    part=f"{r['seq']:06d}", days=days)

    def _penalty_measure_released(self, conn: Connection, r: dict[str, Any]) -> None:
        t = self.table.c
        oldest = conn.execute(sa.select(t.part).where(sa.and_(
            t.case_id == r["case_id"], t.code == "MEASURE_OVERDUE", t.stopped_at.is_(None)))
            .order_by(t.part).limit(1)).scalar()
        if oldest is not None:
            self._stop(conn, r, ("MEASURE_OVERDUE",), part=oldest)

    def _supervision_clue_registered(self, conn: Connection, r: dict[str, Any]) -> None:
        if r["payload"].get("urgent"):
            # Remember the urgency; the 1315 clocks start when the clue is dispatched.
            self._start(conn, r, "URGENT_CLUE", _at(r["occurred_at"]), instant=False,
                        urgent=True)
            self._stop(conn, r, ("URGENT_CLUE",))

    def _supervision_dispatched(self, conn: Connection, r: dict[str, Any]) -> None:
        t = self.table.c
        urgent = conn.execute(sa.select(t.case_id).where(sa.and_(
            t.case_id == r["case_id"], t.code == "URGENT_CLUE"))).first()
        if urgent is None:
            return
        minutes = self._general(r).response_minutes
        start = _at(r["occurred_at"])
        for step in _STEPS:
            self._start(conn, r, "RESPONSE_1315", start + timedelta(minutes=minutes[step]),
                        part=step, urgent=True)

    def _supervision_acknowledged(self, conn: Connection, r: dict[str, Any]) -> None:
        self._stop(conn, r, ("RESPONSE_1315",), part="acknowledged")

    def _supervision_departed(self, conn: Connection, r: dict[str, Any]) -> None:
        self._stop(conn, r, ("RESPONSE_1315",), part="departed")

    def _supervision_arrived(self, conn: Connection, r: dict[str, Any]) -> None:
        self._stop(conn, r, ("RESPONSE_1315",), part="arrived")


_ALL = ("DECISION_OVERDUE", "SERVICE_OVERDUE", "PAYMENT_OVERDUE", "HEARING_NOTICE_LATE",
        "MEASURE_OVERDUE", "RESPONSE_1315")


def read_clocks(conn: Connection, table: sa.Table, scope: str | None = None,
                code: str | None = None) -> Iterator[Clock]:
    """The clocks of the view (the alert codes only), optionally within a division prefix."""
    t = table.c
    query = sa.select(table).where(t.code.in_(_ALL))
    if scope:
        query = query.where(t.jurisdiction.like(f"{scope}%"))
    if code:
        query = query.where(t.code == code)
    for row in conn.execute(query.order_by(t.case_id, t.code, t.part)):
        yield Clock(case_id=row.case_id, code=row.code, part=row.part,
                    jurisdiction=row.jurisdiction, started_at=_at(row.started_at),
                    base_due=_at(row.base_due), suspended_seconds=row.suspended_seconds,
                    suspended_since=_at(row.suspended_since) if row.suspended_since else None,
                    stopped_at=_at(row.stopped_at) if row.stopped_at else None,
                    fine=row.fine, instant=row.instant, note=row.note)
