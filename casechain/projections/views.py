"""The first views: audit timeline, supervision board, statistics (issue 4, in part).

Each view is a small set of handlers over stored records, applied a page at a time inside the
runner's transaction; rebuilding from the log gives the same rows (their order of arrival
does not matter where the view says so, e.g. the first case per item keeps the earliest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
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
    item, officers, subject — for counts and lists by any of them."""

    name = "board"
    # 2: the case's own jurisdiction (its first event's, or case.transferred's);
    # 3: a device's stream is no case (the device register lists devices)
    version = 3

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
        )
        return [self.table]

    def apply(self, page: Page, records: Records) -> None:
        records = [(p, r) for p, r in records if not r["type"].startswith("device.")]
        case_ids = sorted({r["case_id"] for _, r in records})
        current = {row["case_id"]: row for row in page.case_rows(
            self.table, seen_before([r for _, r in records]))}
        stored = list(current)
        for position, r in records:
            row = current.setdefault(r["case_id"], {"case_id": r["case_id"], "team": None,
                                                    "referral_state": None, "item_code": None,
                                                    "officers": None, "subject_name": None})
            self._fold(row, position, r)
        page.replace_case_rows(self.table, stored, [current[c] for c in case_ids])

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
            version = self.pack.at(r["occurred_at"])
            item = version.item(payload["item_code"]) if version else None
            row["team"] = item.team if item else row["team"]
        if "subject" in payload:
            row["subject_name"] = payload["subject"].get("name")
        officers = payload.get("officers")
        if officers:
            row["officers"] = ",".join(sorted(str(o.get("id")) for o in officers))
        row.setdefault("stage", stage)
        row.setdefault("state", name)


class ResponseView:
    """1315 response (1315 响应): for urgent clues, minutes from dispatch to acknowledge,
    depart and arrive, per case, with the dispatching team and district."""

    name = "response"

    def define(self, metadata: sa.MetaData) -> list[sa.Table]:
        self.table = sa.Table(
            "casechain_view_response", metadata,
            sa.Column("case_id", sa.String(64), primary_key=True),
            sa.Column("district", sa.String(6), nullable=False),
            sa.Column("team", sa.String(64)),
            sa.Column("urgent", sa.Boolean(), nullable=False),
            sa.Column("dispatched_at", sa.String(40)),
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
                    "acknowledged_s": None, "departed_s": None, "arrived_s": None}
                continue
            row = rows.get(r["case_id"])
            if row is None:
                continue
            if kind == "supervision.dispatched":
                row.update(dispatched_at=r["occurred_at"], team=r["payload"].get("team"))
            elif row["dispatched_at"]:
                seconds = (_local(r["occurred_at"]) - _local(row["dispatched_at"])
                           ).total_seconds()
                row[kind.split(".")[1] + "_s"] = seconds
        page.replace_case_rows(self.table, stored, [rows[c] for c in case_ids if c in rows])


_RESPONSE_STEPS = frozenset({"supervision.clue_registered", "supervision.dispatched",
                             "supervision.acknowledged", "supervision.departed",
                             "supervision.arrived"})


def response_shares(conn: Connection, table: sa.Table, moment: datetime | None = None
                    ) -> list[dict[str, Any]]:
    """Per team and district: urgent clues dispatched, and the share acknowledged within 1,
    departed within 3 and arrived within 15 minutes (the Hangzhou 1315 standard). With
    `moment`: the clues dispatched by then, each step counted only if it was taken by then."""
    c = table.c
    rows = conn.execute(sa.select(c.team, c.district, c.dispatched_at, c.acknowledged_s,
                                  c.departed_s, c.arrived_s)
                        .where(sa.and_(c.urgent.is_(True), c.dispatched_at.is_not(None)))
                        .order_by(c.team, c.district)).all()
    groups: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        if moment is not None:
            row = _as_of_then(row, moment)
            if row is None:
                continue
        groups.setdefault((row.team or "", row.district), []).append(row)
    out = []
    for (team, district), members in sorted(groups.items()):
        n = len(members)

        def share(field: str, limit: float, members: list[Any] = members, n: int = n) -> float:
            met = sum(1 for m in members if getattr(m, field) is not None
                      and getattr(m, field) <= limit)
            return round(met / n, 4)

        out.append({"team": team, "district": district, "urgent_clues": n,
                    "acknowledged_within_1_min": share("acknowledged_s", 60),
                    "departed_within_3_min": share("departed_s", 180),
                    "arrived_within_15_min": share("arrived_s", 900)})
    return out


def _as_of_then(row: Any, moment: datetime) -> Any:
    """A response row as it stood at `moment`: None if not dispatched yet; a step taken
    later is not taken yet."""
    dispatched = datetime.fromisoformat(row.dispatched_at)
    waited = (moment - dispatched).total_seconds()
    if waited < 0:
        return None
    steps = {name: (value if value is not None and value <= waited else None)
             for name, value in (("acknowledged_s", row.acknowledged_s),
                                 ("departed_s", row.departed_s), ("arrived_s", row.arrived_s))}
    return SimpleNamespace(team=row.team, district=row.district, **steps)


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


