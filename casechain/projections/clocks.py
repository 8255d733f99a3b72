"""The deadlines view: every statutory clock of every case, started and stopped by events.

Evaluated as of an instant by `casechain.domain.deadlines.evaluate`; `casechain alerts`
lists the yellow and red ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from casechain.domain.calendar import SHANGHAI, CalendarUnknown, WorkCalendar, local_day
from casechain.domain.deadlines import INFO_CODES, Clock
from casechain.domain.law import amount_of
from casechain.domain.rulepack import General, RulePack
from casechain.projections.machinery import Page, held_arms, length_class, seen_before

__all__ = ["ALERT_CODES", "ClocksView", "clock_of", "colour_at", "due_at", "due_epoch",
           "met_late", "read_clocks", "running_arms"]

Records = Sequence[tuple[int, dict[str, Any]]]
_STEPS = ("acknowledged", "departed", "arrived")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


class ClocksView:
    """Deadlines (期限): DECISION, SERVICE, PAYMENT, HEARING_NOTICE, MEASURE, RESPONSE_1315, and
    the referral ones: REFERRAL_DECISION, REFERRAL_TRANSFER, HANDOVER, the reconsideration window."""

    name = "deadlines"
    # 2: surcharge pauses, measure extensions; 3: start and stop as epoch seconds;
    # 4: a clock keeps its case's jurisdiction, and moves with case.transferred;
    # 5: base_due and suspended_since as epoch seconds too (colours counted in SQL);
    # 6: the police's clocks (Decree 310 Arts. 8, 9), extensions capped per team (Art. 60),
    # what stopped a clock (the breach register), the device notice (APL Art. 41);
    # 7: notes in zh-CN; 8: indexed by stop and start (the clocks running at an instant
    # read by range, not by scanning every clock ever kept); 9: the clocks met late indexed
    # apart (the breach counts of the statistics read them alone); 10: indexed by place (a
    # district's running clocks read as a prefix range, not picked from the city's);
    # 11: each clock carries its case's team (the alert summary counts without a join);
    # 12: a place's clocks indexed by stop then start, those breached when set by place
    # (a district's clocks running at a past instant read without those started later);
    # 13: a stopped clock's length class, indexed with its start (the city's clocks running
    # at an instant read as a few ranges of starts, not half the clocks ever kept)
    version = 13

    def __init__(self, pack: RulePack, calendar: WorkCalendar) -> None:
        self.pack = pack
        self.calendar = calendar
        due = DueDates(pack, calendar)
        penalty = PenaltyClocks(due)
        others = ResponseAndReferralClocks(due, penalty)
        self._handlers: dict[str, Callable[[Case, dict[str, Any]], None]] = {
            kind: getattr(penalty, name, None) or getattr(others, name)
            for kind, name in _HANDLERS.items() if name != "transferred"}
        self._handlers["case.transferred"] = _transferred

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
            # The most days extensions may bring the period to (None: no cap), APL Art. 60.
            sa.Column("max_days", sa.Integer()),
            sa.Column("suspended_seconds", sa.Float(), nullable=False),
            sa.Column("suspended_since", sa.String(40)),
            sa.Column("stopped_at", sa.String(40)),
            # The event type that stopped the clock: its own step, or the case closing,
            # terminating or coming back from the police with the step never done.
            sa.Column("stopped_by", sa.String(64)),
            sa.Column("fine", sa.Float(), nullable=False),
            sa.Column("instant", sa.Boolean(), nullable=False),
            sa.Column("urgent", sa.Boolean(), nullable=False),
            sa.Column("note", sa.Text()),
            # PAYMENT: [[from, until], ...] while reconsideration or litigation ran (JSON).
            sa.Column("surcharge_pauses", sa.Text()),
            # started_at / stopped_at as seconds since the epoch, whatever offset the events
            # gave: queries as of an instant skip clocks not running then in SQL.
            sa.Column("started_epoch", sa.Float(), nullable=False),
            sa.Column("stopped_epoch", sa.Float()),
            sa.Column("base_due_epoch", sa.Float(), nullable=False),
            sa.Column("suspended_since_epoch", sa.Float()),
            # a stopped clock's `length_class` (None while it runs): `running_arms`
            sa.Column("length_class", sa.Integer()),
            # the case's team as the board shows it (`RulePack.team_after`): the alert
            # summary counts by team without joining the board
            sa.Column("team", sa.String(16)),
            # `running_arms`: not stopped by then (stop first), started by then
            sa.Index("casechain_view_clocks_running", "stopped_epoch", "started_epoch"),
        )
        # The clocks met late (about one in twenty), by when they were met: the breach
        # register and its counts read these alone. A query names `met_late` to use it.
        c = self.table.c
        # `jurisdiction LIKE '330106%'`: a prefix range on PostgreSQL whatever the collation;
        # then each arm of `running_arms` as an index range (the stop) and a check (the start),
        # carrying what a page of alerts orders, colours and keys them by: a district's running
        # clocks read from the index alone, not from rows five times as wide
        sa.Index("casechain_view_clocks_place", c.jurisdiction, c.stopped_epoch,
                 c.started_epoch, postgresql_ops={"jurisdiction": "varchar_pattern_ops"},
                 postgresql_include=["code", "base_due_epoch", "suspended_seconds",
                                     "suspended_since_epoch", "instant", "case_id", "part"])
        # the city's running clocks as of an instant, an arm of `running_arms` at a time: the
        # class of the clock's length (None while it runs), then a range of starts — with
        # what the summary counts and a page orders, colours and keys them by, read from the
        # index alone (half the size of the rows)
        sa.Index("casechain_view_clocks_length", c.length_class, c.started_epoch,
                 postgresql_include=["stopped_epoch", "code", "team", "jurisdiction",
                                     "base_due_epoch", "suspended_seconds",
                                     "suspended_since_epoch", "instant", "case_id", "part"])
        # the clocks breached when set (instant), few and kept apart: the last arm
        sa.Index("casechain_view_clocks_instant", c.jurisdiction, c.started_epoch,
                 postgresql_ops={"jurisdiction": "varchar_pattern_ops"},
                 postgresql_where=c.instant, sqlite_where=c.instant)
        sa.Index("casechain_view_clocks_met_late", c.stopped_epoch,
                 postgresql_include=["case_id", "code", "jurisdiction", "stopped_by"],
                 postgresql_where=met_late(c), sqlite_where=met_late(c))
        # Each case's team once an event named its item (the penalty filing, or the permit
        # granted or refused before a clock ran): a clock started later takes it from here.
        self.teams = sa.Table(
            "casechain_view_clock_teams", metadata,
            sa.Column("case_id", sa.String(64), primary_key=True),
            sa.Column("team", sa.String(16)),
        )
        return [self.table, self.teams]

    def apply(self, page: Page, records: Records) -> None:
        # A page at a time: load the clocks of the page's cases, run the handlers on them in
        # memory, write the cases' clocks back — a few statements a page, not a few an event.
        relevant = [r for _, r in records
                    if r["type"] in self._handlers or "item_code" in r["payload"]]
        if not relevant:
            return
        case_ids = sorted({r["case_id"] for r in relevant})
        clocks: dict[str, dict[tuple[str, str], dict[str, Any]]] = {c: {} for c in case_ids}
        before = seen_before(relevant)
        for row in page.case_rows(self.table, before):
            clocks[row["case_id"]][(row["code"], row["part"])] = row
        stored = [c for c in case_ids if clocks[c]]
        teams = {row["case_id"]: row["team"] for row in page.case_rows(self.teams, before)}
        named: dict[str, str | None] = {}
        for record in relevant:
            case_id = record["case_id"]
            if "item_code" in record["payload"]:
                teams[case_id] = named[case_id] = self.pack.team_after(teams.get(case_id),
                                                                       record)
            handler = self._handlers.get(record["type"])
            if handler is not None:
                handler(clocks[case_id], record)
        page.upsert_rows(self.teams, [{"case_id": case_id, "team": team}
                                      for case_id, team in sorted(named.items())],
                         ["case_id"], lambda new: {"team": new.team})
        rows = [row for case_id in case_ids for row in clocks[case_id].values()]
        for row in rows:
            row["team"] = teams.get(row["case_id"])
            row["started_epoch"] = _at(row["started_at"]).timestamp()
            row["stopped_epoch"] = _at(row["stopped_at"]).timestamp() if row["stopped_at"] \
                else None
            row["length_class"] = length_class(row["started_epoch"], row["stopped_epoch"])
            row["base_due_epoch"] = _at(row["base_due"]).timestamp()
            row["suspended_since_epoch"] = (_at(row["suspended_since"]).timestamp()
                                            if row["suspended_since"] else None)
        page.replace_case_rows(self.table, stored, rows)


Case = dict[tuple[str, str], dict[str, Any]]


class DueDates:
    """Due instants under the rule pack's figures and the statutory calendar, kept per
    day, length and kind (the same for every start on one day)."""

    def __init__(self, pack: RulePack, calendar: WorkCalendar) -> None:
        self.pack = pack
        self.calendar = calendar
        self._due: dict[tuple[str, int, bool], tuple[datetime, str | None]] = {}

    def general(self, record: dict[str, Any]) -> General:
        version = self.pack.at(record["occurred_at"]) or self.pack.versions[0]
        return version.general

    def deadline(self, start: str, days: int, working: bool) -> tuple[datetime, str | None]:
        """The due instant, and a note when it could not use the statutory calendar (the
        same for every start on one day: kept per day, days and kind)."""
        key = (local_day(start), days, working)
        due = self._due.get(key)
        if due is None:
            due = self._due[key] = self._compute(_at(start), days, working)
        return due

    def _compute(self, moment: datetime, days: int, working: bool
                          ) -> tuple[datetime, str | None]:
        try:
            return (self.calendar.workday_deadline(moment, days) if working
                    else self.calendar.calendar_deadline(moment, days)), None
        except CalendarUnknown as exc:
            # Not a silent guess: the clock carries the note into every alert it raises,
            # until the year's holidays are added to the pack and the view is rebuilt.
            end = moment.astimezone(SHANGHAI).date() + timedelta(days=days)
            due = datetime.combine(end + timedelta(days=1), datetime.min.time(), SHANGHAI)
            return due, f"暂定期限：{exc}；在补充该年节假日前按 {days} 个自然日计算"


def _start(case: Case, record: dict[str, Any], code: str,
           due: datetime | tuple[datetime, str | None], *, part: str = "", days: int = 0,
           fine: float = 0.0, instant: bool = False, urgent: bool = False) -> None:
    base_due, note = due if isinstance(due, tuple) else (due, None)
    held = next(iter(case.values()))["jurisdiction"] if case else record["jurisdiction"]
    case[(code, part)] = {
        "case_id": record["case_id"], "code": code, "part": part,
        "jurisdiction": held, "started_at": record["occurred_at"],
        "base_due": base_due.isoformat(), "days": days, "max_days": None,
        "suspended_seconds": 0.0,
        "suspended_since": None, "stopped_at": None, "stopped_by": None, "fine": fine,
        "instant": instant,
        "urgent": urgent, "note": note, "surcharge_pauses": None}


def _stop(case: Case, record: dict[str, Any], codes: tuple[str, ...],
          part: str | None = None) -> None:
    for (code, row_part), row in case.items():
        if (code in codes and row["stopped_at"] is None and not row["instant"]
                and (part is None or row_part == part)):
            row["stopped_at"] = record["occurred_at"]
            row["stopped_by"] = record["type"]


class PenaltyClocks:
    """The penalty procedure's clocks: DECISION (with extensions and suspensions), SERVICE,
    PAYMENT (surcharge paused during appeals), HEARING_NOTICE, MEASURE."""

    def __init__(self, due: DueDates) -> None:
        self.due = due

    def case_filed(self, case: Case, r: dict[str, Any]) -> None:
        general = self.due.general(r)
        days = general.decision_days
        _start(case, r, "DECISION_OVERDUE", self.due.deadline(r["occurred_at"], days, False),
                    days=days)
        cap = general.extension_cap(self.due.pack.team_after(None, r))  # the filed item's team
        if cap is not None:
            case[("DECISION_OVERDUE", "")]["max_days"] = days + cap

    def deadline_extended(self, case: Case, r: dict[str, Any]) -> None:
        if r["payload"].get("deadline") == "measure":
            self.measure_extended(case, r)
            return
        row = case.get(("DECISION_OVERDUE", ""))
        if row is not None:
            wanted = row["days"] + int(r["payload"]["days"])
            limit = row.get("max_days")
            row["days"] = wanted if limit is None else min(wanted, limit)
            due, note = self.due.deadline(row["started_at"], row["days"], False)
            if limit is not None and wanted > limit:
                extra = f"延长期限按本队伍上限计算，办案期限共 {limit} 日（《行政处罚法》第六十条）"
                note = f"{note}; {extra}" if note else extra
            row["base_due"], row["note"] = due.isoformat(), note

    def clock_suspended(self, case: Case, r: dict[str, Any]) -> None:
        row = case.get(("DECISION_OVERDUE", ""))
        if row is not None and row["suspended_since"] is None:
            row["suspended_since"] = r["occurred_at"]

    def clock_resumed(self, case: Case, r: dict[str, Any]) -> None:
        row = case.get(("DECISION_OVERDUE", ""))
        if row is not None and row["suspended_since"] is not None:
            paused = (_at(r["occurred_at"]) - _at(row["suspended_since"])).total_seconds()
            row["suspended_seconds"] += paused
            row["suspended_since"] = None

    def decided(self, case: Case, r: dict[str, Any]) -> None:
        _stop(case, r, ("DECISION_OVERDUE",))
        days = self.due.general(r).service_working_days
        fine = amount_of(r["payload"]["penalties"], "fine")
        _start(case, r, "SERVICE_OVERDUE", self.due.deadline(r["occurred_at"], days, True),
                    days=days, fine=fine)

    def decision_served(self, case: Case, r: dict[str, Any]) -> None:
        service = case.get(("SERVICE_OVERDUE", ""))
        fine = service["fine"] if service is not None else 0.0
        _stop(case, r, ("SERVICE_OVERDUE",))
        if fine > 0:
            days = self.due.general(r).payment_days
            _start(case, r, "PAYMENT_OVERDUE", self.due.deadline(r["occurred_at"], days, False),
                        days=days, fine=fine)

    def paid(self, case: Case, r: dict[str, Any]) -> None:
        _stop(case, r, ("PAYMENT_OVERDUE",))

    def closed(self, case: Case, r: dict[str, Any]) -> None:
        # Closing the administrative case leaves the referral's own deadlines running.
        _stop(case, r, ("DECISION_OVERDUE", "SERVICE_OVERDUE", "PAYMENT_OVERDUE",
                             "MEASURE_OVERDUE", "RESPONSE_1315", "DEVICE_NOTICE_OVERDUE"))

    def hearing_noticed(self, case: Case, r: dict[str, Any]) -> None:
        days = self.due.general(r).hearing_notice_working_days
        earliest = self.due.deadline(r["occurred_at"], days, True)[0] - timedelta(days=1)
        hearing_at = _at(r["payload"]["hearing_at"])
        if hearing_at < earliest:
            _start(case, r, "HEARING_NOTICE_LATE", hearing_at, days=days, instant=True)

    def measure_imposed(self, case: Case, r: dict[str, Any]) -> None:
        days = self.due.general(r).measure_days
        _start(case, r, "MEASURE_OVERDUE", self.due.deadline(r["occurred_at"], days, False),
                    part=f"{r['seq']:06d}", days=days)

    def measure_extended(self, case: Case, r: dict[str, Any]) -> None:
        # Administrative Coercion Law Art. 25: at most 30 days more, once approved.
        seq = r["payload"].get("measure_seq")
        general = self.due.general(r)
        limit = 2 * general.measure_days
        for (code, part), row in case.items():
            if (code != "MEASURE_OVERDUE" or row["stopped_at"] is not None
                    or (seq is not None and part != f"{int(seq):06d}")):
                continue
            wanted = row["days"] + int(r["payload"]["days"])
            row["days"] = min(wanted, limit)
            due, note = self.due.deadline(row["started_at"], row["days"], False)
            if wanted > limit:
                extra = f"延长查封、扣押按 {general.measure_days} 日计算（《行政强制法》第二十五条）"
                note = f"{note}; {extra}" if note else extra
            row["base_due"], row["note"] = due.isoformat(), note

    def appeal_decided(self, case: Case, r: dict[str, Any]) -> None:
        # APL Art. 73: no surcharge accrues while reconsideration or litigation runs.
        applied = r["payload"].get("applied_at")
        row = case.get(("PAYMENT_OVERDUE", ""))
        if applied is None or row is None:
            return
        start = min(_at(applied), _at(r["occurred_at"]))
        pauses = orjson.loads(row["surcharge_pauses"] or "[]")
        pauses.append([start.isoformat(), r["occurred_at"]])
        row["surcharge_pauses"] = orjson.dumps(pauses).decode()

    def measure_released(self, case: Case, r: dict[str, Any]) -> None:
        running = sorted(part for (code, part), row in case.items()
                         if code == "MEASURE_OVERDUE" and row["stopped_at"] is None)
        if running:
            _stop(case, r, ("MEASURE_OVERDUE",), part=running[0])


class ResponseAndReferralClocks:
    """The 1315 response clocks of urgent clues, and 行刑衔接's (Decree 310): the referral
    decision, the transfer, the handover, the reconsideration window."""

    def __init__(self, due: DueDates, penalty: PenaltyClocks) -> None:
        self.due = due
        self.penalty = penalty

    def clue_registered(self, case: Case, r: dict[str, Any]) -> None:
        captured = r["payload"].get("captured_at")
        if captured:  # APL Art. 41 para 3: tell the party of a device's capture in time
            days = self.due.general(r).device_notice_days
            _start(case, {**r, "occurred_at": captured}, "DEVICE_NOTICE_OVERDUE",
                   self.due.deadline(captured, days, True), days=days)
        if r["payload"].get("urgent"):
            # Remember the urgency (not an alert code); the 1315 clocks start at dispatch.
            _start(case, r, "URGENT_CLUE", _at(r["occurred_at"]), urgent=True)
            case[("URGENT_CLUE", "")]["stopped_at"] = r["occurred_at"]

    def dispatched(self, case: Case, r: dict[str, Any]) -> None:
        if ("URGENT_CLUE", "") not in case:
            return
        minutes = self.due.general(r).response_minutes
        start = _at(r["occurred_at"])
        for step in _STEPS:
            _start(case, r, "RESPONSE_1315", start + timedelta(minutes=minutes[step]),
                        part=step, urgent=True)

    def party_informed(self, case: Case, r: dict[str, Any]) -> None:
        _stop(case, r, ("DEVICE_NOTICE_OVERDUE",))

    def inspected(self, case: Case, r: dict[str, Any]) -> None:
        if not r["payload"].get("violation_found"):  # nothing to tell the party of
            _stop(case, r, ("DEVICE_NOTICE_OVERDUE",))

    def responded(self, case: Case, r: dict[str, Any]) -> None:
        _stop(case, r, ("RESPONSE_1315",), part=r["type"].split(".")[1])

    # -- 行刑衔接 (Decree 310) ---------------------------------------------------------------
    def referral_reported(self, case: Case, r: dict[str, Any]) -> None:
        days = self.due.general(r).referral_decision_days
        _start(case, r, "REFERRAL_DECISION_OVERDUE",
                    self.due.deadline(r["occurred_at"], days, False), days=days)

    def referral_approved(self, case: Case, r: dict[str, Any]) -> None:
        _stop(case, r, ("REFERRAL_DECISION_OVERDUE",))
        hours = self.due.general(r).referral_transfer_hours
        _start(case, r, "REFERRAL_TRANSFER_OVERDUE",
                    _at(r["occurred_at"]) + timedelta(hours=hours))

    def referral_rejected(self, case: Case, r: dict[str, Any]) -> None:
        _stop(case, r, ("REFERRAL_DECISION_OVERDUE",))

    def referral_transferred(self, case: Case, r: dict[str, Any]) -> None:
        # With the police, the administrative decision clock does not run; it resumes when
        # the case comes back (returned, or a decline the agency accepts).
        _stop(case, r, ("REFERRAL_TRANSFER_OVERDUE",))
        self.penalty.clock_suspended(case, r)

    def police_accepted(self, case: Case, r: dict[str, Any]) -> None:
        general = self.due.general(r)
        payload = r["payload"]
        days = (general.police_filing_extended_days if payload.get("extended_by_superior")
                else general.police_filing_verification_days
                if payload.get("needs_verification") else general.police_filing_days)
        _start(case, r, "POLICE_FILING_OVERDUE",
               self.due.deadline(r["occurred_at"], days, False), days=days)

    def police_filed(self, case: Case, r: dict[str, Any]) -> None:
        _stop(case, r, ("RECONSIDERATION_WINDOW", "POLICE_FILING_OVERDUE",
                        "POLICE_RECONSIDERATION_OVERDUE"))
        days = self.due.general(r).handover_days
        _start(case, r, "HANDOVER_OVERDUE", self.due.deadline(r["occurred_at"], days, False),
                    days=days)

    def police_declined(self, case: Case, r: dict[str, Any]) -> None:
        _stop(case, r, ("POLICE_FILING_OVERDUE", "POLICE_RECONSIDERATION_OVERDUE"))
        self.penalty.clock_resumed(case, r)
        days = self.due.general(r).reconsideration_request_days
        _start(case, r, "RECONSIDERATION_WINDOW",
                    self.due.deadline(r["occurred_at"], days, False), days=days)

    def reconsideration_requested(self, case: Case, r: dict[str, Any]) -> None:
        _stop(case, r, ("RECONSIDERATION_WINDOW",))
        self.penalty.clock_suspended(case, r)
        days = self.due.general(r).police_reconsideration_days
        _start(case, r, "POLICE_RECONSIDERATION_OVERDUE",
               self.due.deadline(r["occurred_at"], days, False), days=days)

    def reconsideration_decided(self, case: Case, r: dict[str, Any]) -> None:
        if r["payload"].get("result") == "filed":
            self.police_filed(case, r)
        else:
            self.police_declined(case, r)

    def procuratorate_requested(self, case: Case, r: dict[str, Any]) -> None:
        # The procuratorate supervises the police's decline: the agency has acted in time.
        _stop(case, r, ("RECONSIDERATION_WINDOW",))

    def materials_handed_over(self, case: Case, r: dict[str, Any]) -> None:
        _stop(case, r, ("HANDOVER_OVERDUE",))

    def referral_returned(self, case: Case, r: dict[str, Any]) -> None:
        _stop(case, r, ("HANDOVER_OVERDUE", "RECONSIDERATION_WINDOW", "POLICE_FILING_OVERDUE",
                        "POLICE_RECONSIDERATION_OVERDUE"))
        self.penalty.clock_resumed(case, r)


def _transferred(case: Case, record: dict[str, Any]) -> None:
    """case.transferred: the case's clocks go with it to the new jurisdiction."""
    for row in case.values():
        row["jurisdiction"] = record["payload"]["to_jurisdiction"]


#: Event type → the name of its handler.
_HANDLERS: dict[str, str] = {
    "case.transferred": "transferred",
    "penalty.case_filed": "case_filed",
    "penalty.deadline_extended": "deadline_extended",
    "penalty.clock_suspended": "clock_suspended",
    "penalty.clock_resumed": "clock_resumed",
    "penalty.decided": "decided",
    "penalty.decision_served": "decision_served",
    "penalty.paid": "paid",
    "penalty.closed": "closed",
    "penalty.terminated": "closed",
    "penalty.hearing_noticed": "hearing_noticed",
    "penalty.measure_imposed": "measure_imposed",
    "penalty.measure_released": "measure_released",
    "evaluation.reconsideration_decided": "appeal_decided",
    "evaluation.litigation_decided": "appeal_decided",
    "supervision.clue_registered": "clue_registered",
    "supervision.dispatched": "dispatched",
    "supervision.inspected": "inspected",
    "penalty.party_informed": "party_informed",
    "supervision.acknowledged": "responded",
    "supervision.departed": "responded",
    "supervision.arrived": "responded",
    "referral.reported": "referral_reported",
    "referral.approved": "referral_approved",
    "referral.rejected": "referral_rejected",
    "referral.transferred": "referral_transferred",
    "referral.police_accepted": "police_accepted",
    "referral.police_filed": "police_filed",
    "referral.reconsideration_decided": "reconsideration_decided",
    "referral.procuratorate_supervision_requested": "procuratorate_requested",
    "referral.police_declined": "police_declined",
    "referral.reconsideration_requested": "reconsideration_requested",
    "referral.materials_handed_over": "materials_handed_over",
    "referral.returned": "referral_returned",
}




def running_arms(t: Any, moment: float, by_length: bool = True) -> list[Any]:
    """SQL: the clock runs at the instant (epoch seconds) as `evaluate` says — started by
    then, and not stopped by then unless breached when set — as conditions that exclude
    each other, for a query to select once under each (`held_arms`). `by_length`: those
    stopped since, a length class at a time (`casechain_view_clocks_length`: as of
    2025-06-30 on the city's year, the summary's clocks in 38 ms instead of 184 ms); without
    it, as one range of stops — what a district's page reads from the place's index, where
    its clocks are a prefix range (by class it would read the city's windows and keep a
    thirteenth)."""
    return held_arms(t.started_epoch, t.stopped_epoch, moment, t.instant,
                     t.length_class if by_length else None)


def due_epoch(t: Any) -> Any:
    """SQL: the instant a stopped clock was due (epoch seconds), its suspended time counted —
    the suspension still running when it stopped too."""
    still = sa.case((sa.and_(t.suspended_since_epoch.is_not(None),
                             t.suspended_since_epoch < t.stopped_epoch),
                     t.stopped_epoch - t.suspended_since_epoch),
                    else_=sa.literal_column("0.0", sa.Float()))  # a literal: see met_late
    return t.base_due_epoch + t.suspended_seconds + still


def met_late(t: Any) -> Any:
    """SQL: the clock stopped after it was due (not an instant). Written once for the
    partial index `casechain_view_clocks_met_late` and the queries that read through it:
    PostgreSQL uses such an index only for a query repeating its condition, with no bound
    parameter in it."""
    return sa.and_(t.stopped_epoch.is_not(None), sa.not_(t.instant),
                   t.stopped_epoch > due_epoch(t))


def colour_at(t: Any, moment: float) -> Any:
    """SQL: a running clock's colour at the instant, as `evaluate` gives it (NULL for an
    information window that has closed): red when due or breached when set, yellow with a
    fifth of the period or less left, the suspension counted while it lasts."""
    suspended = sa.and_(t.suspended_since_epoch.is_not(None), t.suspended_since_epoch <= moment)
    remaining = sa.case(
        (suspended, t.base_due_epoch + t.suspended_seconds - t.suspended_since_epoch),
        else_=t.base_due_epoch + t.suspended_seconds - moment)
    return sa.case(
        (t.code.in_(sorted(INFO_CODES)), sa.case((remaining > 0, "info"), else_=sa.null())),
        (sa.or_(t.instant, remaining <= 0), "red"),
        (remaining <= 0.2 * (t.base_due_epoch - t.started_epoch), "yellow"),
        else_="green")


#: Alert codes of the clocks (`URGENT_CLUE` only remembers an urgency).
ALERT_CODES = ("DECISION_OVERDUE", "SERVICE_OVERDUE", "PAYMENT_OVERDUE", "HEARING_NOTICE_LATE",
               "MEASURE_OVERDUE", "RESPONSE_1315", "REFERRAL_DECISION_OVERDUE",
               "REFERRAL_TRANSFER_OVERDUE", "HANDOVER_OVERDUE", "POLICE_FILING_OVERDUE",
               "RECONSIDERATION_WINDOW", "POLICE_RECONSIDERATION_OVERDUE",
               "DEVICE_NOTICE_OVERDUE")


#: Seconds of slack in the SQL filter of `running`: `evaluate` decides at the boundary.
_SLACK = 1.0


def read_clocks(conn: Connection, table: sa.Table, scope: str | None = None,
                code: str | None = None, running: datetime | None = None) -> Iterator[Clock]:
    """The clocks of the view (the alert codes only), optionally within a division prefix;
    with `running`, only those `evaluate` may find running at that instant (started by then,
    and not stopped by then unless breached when set)."""
    t = table.c
    query = sa.select(table).where(t.code.in_(ALERT_CODES))
    if running is not None:
        moment = running.timestamp()
        query = query.where(t.started_epoch <= moment + _SLACK, sa.or_(
            t.stopped_epoch.is_(None), t.stopped_epoch > moment - _SLACK, t.instant))
    if scope:
        query = query.where(t.jurisdiction.like(f"{scope}%"))
    if code:
        query = query.where(t.code == code)
    for row in conn.execute(query.order_by(t.case_id, t.code, t.part)):
        yield clock_of(row)


def clock_of(row: Any) -> Clock:
    """The clock of a row of the deadlines view."""
    return Clock(case_id=row.case_id, code=row.code, part=row.part,
                 jurisdiction=row.jurisdiction, started_at=_at(row.started_at),
                 base_due=_at(row.base_due), suspended_seconds=row.suspended_seconds,
                 suspended_since=_at(row.suspended_since) if row.suspended_since else None,
                 stopped_at=_at(row.stopped_at) if row.stopped_at else None,
                 fine=row.fine, instant=row.instant, note=row.note,
                 surcharge_pauses=tuple((_at(a), _at(b)) for a, b in
                                        orjson.loads(row.surcharge_pauses or "[]")))


def due_at(t: Any, moment: float) -> Any:
    """SQL: a clock's due instant (epoch seconds) at the instant, as `evaluate` gives it: the
    base due date, moved by the suspensions, the running one counted up to the instant."""
    suspended = sa.and_(t.suspended_since_epoch.is_not(None), t.suspended_since_epoch <= moment)
    return sa.case(
        (suspended, t.base_due_epoch + t.suspended_seconds + (moment - t.suspended_since_epoch)),
        else_=t.base_due_epoch + t.suspended_seconds)
