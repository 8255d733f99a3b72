"""The first views: audit timeline, supervision board, statistics (issue 4, in part).

Each view is a small set of handlers over stored records, applied a page at a time inside the
runner's transaction; rebuilding from the log gives the same rows (their order of arrival
does not matter where the view says so, e.g. the first case per item keeps the earliest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from casechain.domain.calendar import SHANGHAI, WorkCalendar, local_day
from casechain.domain.jurisdiction import jurisdiction_after
from casechain.domain.payloads import EVENT_LABELS
from casechain.domain.rulepack import RulePack
from casechain.projections.clocks import ClocksView
from casechain.projections.crosscase import CrossCaseView
from casechain.projections.devices import DevicesView
from casechain.projections.machinery import Page, ProjectionRunner, seen_before

__all__ = [
    "BoardView",
    "ResponseView",
    "StatisticsView",
    "TimelineView",
    "default_views",
    "response_shares",
]

Records = Sequence[tuple[int, dict[str, Any]]]
_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _local(moment: str) -> datetime:
    return datetime.fromisoformat(moment).astimezone(SHANGHAI)


class TimelineView:
    """Audit timeline (全程留痕): every event with actor, source, occurred and recorded times
    and the rule-pack version in force when it occurred."""

    name = "timeline"

    def __init__(self, pack: RulePack) -> None:
        self.pack = pack

    def define(self, metadata: sa.MetaData) -> list[sa.Table]:
        self.table = sa.Table(
            "casechain_view_timeline", metadata,
            sa.Column("position", _BIG, primary_key=True, autoincrement=False),
            sa.Column("case_id", sa.String(64), nullable=False, index=True),
            sa.Column("seq", sa.Integer(), nullable=False),
            sa.Column("type", sa.String(64), nullable=False),
            sa.Column("label", sa.String(64), nullable=False),
            sa.Column("event_id", sa.String(36), nullable=False),
            sa.Column("actor_id", sa.String(128), nullable=False),
            sa.Column("actor_role", sa.String(64), nullable=False),
            sa.Column("actor_org", sa.String(128)),
            sa.Column("cert_no", sa.String(64)),
            sa.Column("source", sa.String(128)),
            sa.Column("occurred_at", sa.String(40), nullable=False),
            sa.Column("recorded_at", sa.String(40), nullable=False),
            sa.Column("rules_version", sa.String(10)),
        )
        return [self.table]

    def apply(self, page: Page, records: Records) -> None:
        labels, at = EVENT_LABELS, self.pack.at
        versions = {id(v): v.effective_from.isoformat() for v in self.pack.versions}
        rows = []
        for position, r in records:  # tuples in column order: a million rows, no dicts
            version = at(r["occurred_at"])
            actor = r["actor"]
            rows.append((position, r["case_id"], r["seq"], r["type"],
                         labels.get(r["type"], r["type"]), r["event_id"], actor["id"],
                         actor["role"], actor.get("org"), actor.get("cert_no"), r.get("source"),
                         r["occurred_at"], r["recorded_at"],
                         versions[id(version)] if version else None))
        page.insert_rows(self.table, rows)


class BoardView:
    """Supervision board (监管看板): one row per case — jurisdiction, team, stage, state,
    item, officers, subject — for counts and lists by any of them; and, for counts as of an
    instant (截至时间), each case's stage, team and jurisdiction over occurred time.

    The row as of an instant T is the fold, in the order recorded, of the case's events that
    occurred by T. `casechain_view_board_spans` keeps it as spans [from, to) of occurred
    time, so that "how many cases were in each stage at T" is a range read. Events that come
    in occurred order extend the spans; a late event (occurred before one already recorded)
    has its case's spans recomputed from its steps (`casechain_view_board_steps`: per event
    the little the fold reads)."""

    name = "board"
    # 2: the case's own jurisdiction (its first event's, or case.transferred's);
    # 3: a device's stream is no case (the device register lists devices);
    # 4: spans of stage, team and jurisdiction over occurred time (counts as of an instant)
    version = 4

    #: The board row's columns the listings answer (the others keep the spans up).
    LISTED = ("case_id", "jurisdiction", "district", "team", "stage", "state",
              "referral_state", "item_code", "officers", "subject_name", "last_position")

    def __init__(self, pack: RulePack) -> None:
        self.pack = pack

    def define(self, metadata: sa.MetaData) -> list[sa.Table]:
        self.table = sa.Table(
            "casechain_view_board", metadata,
            sa.Column("case_id", sa.String(64), primary_key=True),
            sa.Column("jurisdiction", sa.String(12), nullable=False, index=True),
            sa.Column("district", sa.String(6), nullable=False),
            sa.Column("team", sa.String(16)),
            sa.Column("stage", sa.String(16), nullable=False),
            sa.Column("state", sa.String(64), nullable=False),
            sa.Column("referral_state", sa.String(64)),
            sa.Column("item_code", sa.String(64)),
            sa.Column("officers", sa.Text()),
            sa.Column("subject_name", sa.Text()),
            sa.Column("last_position", _BIG, nullable=False),
            # the latest occurred instant of the case's events, and its last span
            sa.Column("occurred_max", sa.Float(), nullable=False),
            sa.Column("span_n", sa.Integer(), nullable=False),
            sa.Column("span_from", sa.Float(), nullable=False),
        )
        self.steps = sa.Table(
            "casechain_view_board_steps", metadata,
            sa.Column("case_id", sa.String(64), primary_key=True),
            sa.Column("position", _BIG, primary_key=True, autoincrement=False),
            sa.Column("type", sa.String(64), nullable=False),
            sa.Column("occurred_at", sa.String(40), nullable=False),
            sa.Column("occurred_epoch", sa.Float(), nullable=False),
            sa.Column("jurisdiction", sa.String(12), nullable=False),
            sa.Column("item_code", sa.String(64)),
            sa.Column("to_jurisdiction", sa.String(12)),
        )
        self.spans = sa.Table(
            "casechain_view_board_spans", metadata,
            sa.Column("case_id", sa.String(64), primary_key=True),
            sa.Column("n", sa.Integer(), primary_key=True, autoincrement=False),
            sa.Column("from_epoch", sa.Float(), nullable=False),
            sa.Column("to_epoch", sa.Float()),
            sa.Column("jurisdiction", sa.String(12), nullable=False),
            sa.Column("district", sa.String(6), nullable=False),
            sa.Column("team", sa.String(16)),
            sa.Column("stage", sa.String(16), nullable=False),
            # what holds at an instant: not ended by then (to first), begun by then
            sa.Index("casechain_view_board_spans_live", "to_epoch", "from_epoch"),
        )
        return [self.table, self.steps, self.spans]

    def apply(self, page: Page, records: Records) -> None:
        records = [(p, r) for p, r in records if not r["type"].startswith("device.")]
        case_ids = sorted({r["case_id"] for _, r in records})
        current = {row["case_id"]: row for row in page.case_rows(
            self.table, seen_before([r for _, r in records]))}
        stored = list(current)
        by_case: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for position, r in records:
            by_case.setdefault(r["case_id"], []).append((position, r))
        extended: list[dict[str, Any]] = []
        late: list[str] = []
        for case_id in case_ids:
            row = current.get(case_id) or {
                "case_id": case_id, "team": None, "referral_state": None, "item_code": None,
                "officers": None, "subject_name": None, "occurred_max": float("-inf"),
                "span_n": -1, "span_from": 0.0}
            trial = dict(row)
            spans = self._extend(trial, by_case[case_id])
            if spans is not None:
                current[case_id] = trial
                extended += spans
                continue
            for position, r in by_case[case_id]:
                self._fold(row, position, r)
            current[case_id] = row
            late.append(case_id)
        page.insert_rows(self.steps, [_step(position, r) for position, r in records],
                         case_ids)
        if late:
            recomputed = self._recompute(page, late, by_case)
            for case_id in late:
                last = recomputed[case_id][-1]
                current[case_id].update(occurred_max=max(
                    current[case_id]["occurred_max"], *(_epoch(r) for _, r in by_case[case_id])),
                    span_n=last["n"], span_from=last["from_epoch"])
            page.replace_case_rows(self.spans, [c for c in late if c in stored],
                                   [span for c in late for span in recomputed[c]])
        page.upsert_rows(self.spans, extended, ["case_id", "n"],
                         lambda new: {"to_epoch": new.to_epoch, "jurisdiction": new.jurisdiction,
                                      "district": new.district, "team": new.team,
                                      "stage": new.stage, "from_epoch": new.from_epoch})
        page.replace_case_rows(self.table, stored, [current[c] for c in case_ids])

    def _extend(self, row: dict[str, Any], events: list[tuple[int, dict[str, Any]]]
                ) -> list[dict[str, Any]] | None:
        """Fold events that came in occurred order into the row; the spans they end or
        begin. None (the row half folded) when they cannot only extend the spans: an event
        occurred before one already recorded, or a state changed again at the instant its
        span began, after an earlier span (recomputed whole, that one would merge)."""
        spans: dict[int, dict[str, Any]] = {}
        for position, r in events:
            at = _epoch(r)
            if at < row["occurred_max"]:
                return None
            before = _span_state(row) if row["span_n"] >= 0 else None
            self._fold(row, position, r)
            row["occurred_max"] = at
            state = _span_state(row)
            if state == before:
                continue
            if before is None:  # the case's first event
                row["span_n"], row["span_from"] = 0, at
            elif at > row["span_from"]:  # the last span ends here, the next begins
                spans[row["span_n"]] = _span(row["case_id"], row["span_n"], row["span_from"],
                                             at, before)
                row["span_n"] += 1
                row["span_from"] = at
            elif row["span_n"] > 0:
                return None
            spans[row["span_n"]] = _span(row["case_id"], row["span_n"], row["span_from"],
                                         None, state)
        return list(spans.values())

    def _recompute(self, page: Page, cases: list[str],
                   by_case: Mapping[str, list[tuple[int, dict[str, Any]]]]
                   ) -> dict[str, list[dict[str, Any]]]:
        """The spans of cases with a late event, from all their steps: the fold of the
        steps occurred by each of their instants, in the order recorded."""
        steps: dict[str, list[tuple[int, dict[str, Any]]]] = {c: [] for c in cases}
        for stored in page.case_rows(self.steps, cases):
            steps[stored["case_id"]].append((stored["position"], _record_of(stored)))
        spans: dict[str, list[dict[str, Any]]] = {}
        for case_id in cases:
            known = {position for position, _ in steps[case_id]}
            every = sorted(steps[case_id] + [(p, r) for p, r in by_case[case_id]
                                             if p not in known], key=lambda item: item[0])
            spans[case_id] = self._spans_of(case_id, every)
        return spans

    def _spans_of(self, case_id: str, every: list[tuple[int, dict[str, Any]]]
                  ) -> list[dict[str, Any]]:
        instants = sorted({_epoch(r) for _, r in every})
        states: list[tuple[float, tuple[Any, ...]]] = []
        for at in instants:
            row: dict[str, Any] = {"case_id": case_id, "team": None}
            for position, r in every:
                if _epoch(r) <= at:
                    self._fold(row, position, r)
            state = _span_state(row)
            if not states or states[-1][1] != state:
                states.append((at, state))
        return [_span(case_id, n, at, states[n + 1][0] if n + 1 < len(states) else None, state)
                for n, (at, state) in enumerate(states)]

    def _fold(self, row: dict[str, Any], position: int, r: dict[str, Any]) -> None:
        stage, _, name = r["type"].partition(".")
        payload = r["payload"]
        held = jurisdiction_after(row.get("jurisdiction"), r)
        row.update(jurisdiction=held, district=held[:6], last_position=position)
        if stage == "referral":
            row["referral_state"] = name
        elif stage != "case":  # case.transferred moves the case, not its stage
            row["stage"], row["state"] = stage, name
        if "item_code" in payload:
            row["item_code"] = payload["item_code"]
        row["team"] = self.pack.team_after(row["team"], r)
        if "subject" in payload:
            row["subject_name"] = payload["subject"].get("name")
        officers = payload.get("officers")
        if officers:
            row["officers"] = ",".join(sorted(str(o.get("id")) for o in officers))
        row.setdefault("stage", stage)
        row.setdefault("state", name)


def _epoch(r: Mapping[str, Any]) -> float:
    return datetime.fromisoformat(r["occurred_at"]).timestamp()


def _span_state(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return row["jurisdiction"], row.get("team"), row["stage"]


def _span(case_id: str, n: int, start: float, end: float | None, state: tuple[Any, ...]
          ) -> dict[str, Any]:
    jurisdiction, team, stage = state
    return {"case_id": case_id, "n": n, "from_epoch": start, "to_epoch": end,
            "jurisdiction": jurisdiction, "district": jurisdiction[:6], "team": team,
            "stage": stage}


def _step(position: int, r: Mapping[str, Any]) -> dict[str, Any]:
    """What the board's fold reads of an event, kept to recompute a case's spans."""
    payload = r["payload"]
    return {"case_id": r["case_id"], "position": position, "type": r["type"],
            "occurred_at": r["occurred_at"], "occurred_epoch": _epoch(r),
            "jurisdiction": r["jurisdiction"], "item_code": payload.get("item_code"),
            "to_jurisdiction": payload.get("to_jurisdiction")}


def _record_of(step: Mapping[str, Any]) -> dict[str, Any]:
    """A stored step as the record the fold reads."""
    payload = {key: step[key] for key in ("item_code", "to_jurisdiction")
               if step[key] is not None}
    return {"case_id": step["case_id"], "type": step["type"],
            "occurred_at": step["occurred_at"], "jurisdiction": step["jurisdiction"],
            "payload": payload}


class ResponseView:
    """1315 response (1315 响应): for urgent clues, minutes from dispatch to acknowledge,
    depart and arrive, per case, with the dispatching team and district."""

    name = "response"
    # 2: the dispatch instant as epoch seconds too (the shares as of an instant counted in SQL)
    version = 2

    def define(self, metadata: sa.MetaData) -> list[sa.Table]:
        self.table = sa.Table(
            "casechain_view_response", metadata,
            sa.Column("case_id", sa.String(64), primary_key=True),
            sa.Column("district", sa.String(6), nullable=False),
            sa.Column("team", sa.String(64)),
            sa.Column("urgent", sa.Boolean(), nullable=False),
            sa.Column("dispatched_at", sa.String(40)),
            sa.Column("dispatched_epoch", sa.Float()),
            sa.Column("acknowledged_s", sa.Float()),
            sa.Column("departed_s", sa.Float()),
            sa.Column("arrived_s", sa.Float()),
        )
        return [self.table]

    def apply(self, page: Page, records: Records) -> None:
        relevant = [r for _, r in records if r["type"] in _RESPONSE_STEPS]
        if not relevant:
            return
        case_ids = sorted({r["case_id"] for r in relevant})
        rows = {row["case_id"]: row for row in page.case_rows(self.table,
                                                              seen_before(relevant))}
        stored = list(rows)
        for r in relevant:
            kind = r["type"]
            if kind == "supervision.clue_registered":
                rows[r["case_id"]] = {
                    "case_id": r["case_id"], "district": r["jurisdiction"][:6], "team": None,
                    "urgent": bool(r["payload"].get("urgent")), "dispatched_at": None,
                    "dispatched_epoch": None, "acknowledged_s": None, "departed_s": None, "arrived_s": None}
                continue
            row = rows.get(r["case_id"])
            if row is None:
                continue
            if kind == "supervision.dispatched":
                row.update(dispatched_at=r["occurred_at"], dispatched_epoch=_epoch(r),
                           team=r["payload"].get("team"))
            elif row["dispatched_at"]:
                seconds = (_local(r["occurred_at"]) - _local(row["dispatched_at"])
                           ).total_seconds()
                row[kind.split(".")[1] + "_s"] = seconds
        page.replace_case_rows(self.table, stored, [rows[c] for c in case_ids if c in rows])


_RESPONSE_STEPS = frozenset({"supervision.clue_registered", "supervision.dispatched",
                             "supervision.acknowledged", "supervision.departed",
                             "supervision.arrived"})


#: The 1315 standard: (column, share's name, seconds) — acknowledged within 1 minute,
#: departed within 3, arrived within 15.
_RESPONSE_WITHIN = (("acknowledged_s", "acknowledged_within_1_min", 60),
                    ("departed_s", "departed_within_3_min", 180),
                    ("arrived_s", "arrived_within_15_min", 900))


def response_shares(conn: Connection, table: sa.Table, moment: datetime | None = None,
                    scope: str | None = None) -> list[dict[str, Any]]:
    """Per team and district (districts inside `scope`): urgent clues dispatched, and the
    share acknowledged within 1, departed within 3 and arrived within 15 minutes (the
    Hangzhou 1315 standard), counted in SQL. With `moment`: the clues dispatched by then,
    each step counted only if it was taken by then."""
    c = table.c
    where: list[sa.ColumnElement[bool]] = [c.urgent.is_(True), c.dispatched_epoch.is_not(None)]
    if scope:
        where.append(c.district.like(f"{scope}%"))
    at = None if moment is None else moment.timestamp()
    if at is not None:
        where.append(c.dispatched_epoch <= at)

    def met(column: str, limit: int) -> Any:
        taken = [c[column].is_not(None), c[column] <= limit]
        if at is not None:  # taken by then: no later than the time waited until then
            taken.append(c[column] <= at - c.dispatched_epoch)
        return sa.func.count().filter(sa.and_(*taken))

    team = sa.func.coalesce(c.team, "")
    rows = conn.execute(sa.select(team, c.district, sa.func.count(),
                                  *(met(column, limit) for column, _, limit in _RESPONSE_WITHIN))
                        .where(*where).group_by(team, c.district)).all()
    return [{"team": row[0], "district": row[1], "urgent_clues": row[2],
             **{name: round(row[3 + i] / row[2], 4)
                for i, (_, name, _) in enumerate(_RESPONSE_WITHIN)}}
            for row in sorted(rows, key=lambda row: (row[0], row[1]))]  # code-point order


_METRICS = {"penalty.case_filed": "filed", "penalty.decided": "decided",
            "penalty.closed": "closed", "referral.transferred": "referred"}


class StatisticsView:
    """Statistics (统计): filed / decided / closed / referred per team, district and month;
    the first case filed under each item (首案突破)."""

    name = "statistics"

    def __init__(self, pack: RulePack) -> None:
        self.pack = pack

    def define(self, metadata: sa.MetaData) -> list[sa.Table]:
        self.cases = sa.Table(
            "casechain_view_stats_cases", metadata,
            sa.Column("case_id", sa.String(64), primary_key=True),
            sa.Column("team", sa.String(16), nullable=False),
        )
        self.counts = sa.Table(
            "casechain_view_stats", metadata,
            sa.Column("team", sa.String(16), primary_key=True),
            sa.Column("district", sa.String(6), primary_key=True),
            sa.Column("month", sa.String(7), primary_key=True),
            sa.Column("metric", sa.String(16), primary_key=True),
            sa.Column("count", sa.Integer(), nullable=False),
        )
        self.first = sa.Table(
            "casechain_view_first_cases", metadata,
            sa.Column("item_code", sa.String(64), primary_key=True),
            sa.Column("case_id", sa.String(64), nullable=False),
            sa.Column("filed_at", sa.String(40), nullable=False),
        )
        return [self.cases, self.counts, self.first]

    def apply(self, page: Page, records: Records) -> None:
        wanted = [r for _, r in records if r["type"] in _METRICS]
        if not wanted:
            return
        teams = self._teams(page, wanted)
        totals: dict[tuple[str, str, str, str], int] = {}
        firsts: dict[str, tuple[str, str]] = {}
        for r in wanted:
            key = (teams.get(r["case_id"], "未知"), r["jurisdiction"][:6],
                   local_day(r["occurred_at"])[:7], _METRICS[r["type"]])
            totals[key] = totals.get(key, 0) + 1
            if r["type"] == "penalty.case_filed":
                candidate = (_local(r["occurred_at"]).isoformat(), r["case_id"])
                item = r["payload"]["item_code"]
                firsts[item] = min(firsts.get(item, candidate), candidate)
        self._add_counts(page, totals)
        self._keep_first_cases(page, firsts)

    def _add_counts(self, page: Page, totals: dict[tuple[str, str, str, str], int]) -> None:
        # Add the page's counts to the stored ones in place.
        rows = [{"team": k[0], "district": k[1], "month": k[2], "metric": k[3], "count": n}
                for k, n in sorted(totals.items())]
        stored = self.counts.c["count"]
        page.upsert_rows(self.counts, rows, ["team", "district", "month", "metric"],
                    lambda new: {"count": stored + new["count"]})

    def _keep_first_cases(self, page: Page, firsts: dict[str, tuple[str, str]]) -> None:
        # Keep the earliest (filed_at, case_id) per item: replace only by an earlier one.
        rows = [{"item_code": item, "filed_at": filed, "case_id": case_id}
                for item, (filed, case_id) in sorted(firsts.items())]
        f = self.first.c
        page.upsert_rows(self.first, rows, ["item_code"],
                    lambda new: {"filed_at": new.filed_at, "case_id": new.case_id},
                    where=lambda new: sa.or_(new.filed_at < f.filed_at,
                                             sa.and_(new.filed_at == f.filed_at,
                                                     new.case_id < f.case_id)))

    def _teams(self, page: Page, records: list[dict[str, Any]]) -> dict[str, str]:
        teams: dict[str, str] = {}
        for r in records:
            if r["type"] == "penalty.case_filed":
                version = self.pack.at(r["occurred_at"])
                item = version.item(r["payload"]["item_code"]) if version else None
                teams[r["case_id"]] = item.team if item else "未知"
        missing = sorted(set(seen_before(records)) - set(teams))
        found = {row["case_id"]: row["team"] for row in page.case_rows(self.cases, missing)}
        page.upsert_rows(self.cases, [{"case_id": k, "team": v} for k, v in sorted(teams.items())],
                         ["case_id"], lambda new: {"team": new.team})
        return teams | found


T = TypeVar("T")


@dataclass(frozen=True)
class Views:
    """The default views of a runner, typed: `views_of(runner).board.table`."""

    timeline: TimelineView
    board: BoardView
    statistics: StatisticsView
    response: ResponseView
    deadlines: ClocksView
    crosscase: CrossCaseView
    devices: DevicesView


def views_of(runner: ProjectionRunner) -> Views:
    """The runner's default views by name, each of its own class (a runner built with other
    views is a programming error, said as such)."""
    found = runner.views
    return Views(timeline=_one(found, "timeline", TimelineView),
                 board=_one(found, "board", BoardView),
                 statistics=_one(found, "statistics", StatisticsView),
                 response=_one(found, "response", ResponseView),
                 deadlines=_one(found, "deadlines", ClocksView),
                 crosscase=_one(found, "crosscase", CrossCaseView),
                 devices=_one(found, "devices", DevicesView))


def _one(found: Mapping[str, Any], name: str, kind: type[T]) -> T:
    view = found.get(name)
    if not isinstance(view, kind):
        raise TypeError(f"view {name} is a {type(view).__name__}, expected {kind.__name__}")
    return view


def default_views(pack: RulePack, calendar: WorkCalendar) -> list[Any]:
    """The views `casechain projections` maintains."""
    return [TimelineView(pack), BoardView(pack), StatisticsView(pack), ResponseView(),
            ClocksView(pack, calendar), CrossCaseView(pack, calendar), DevicesView()]


