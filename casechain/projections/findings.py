"""The cross-case findings over time, kept: each finding, 应移未移 clock and referral row with
the span of time it holds (`casechain.domain.findings`), per subject, in
`casechain_view_cc_findings`. Part of the cross-case view: recomputed for the subjects whose
facts a page changed, read as of an instant by a range of the spans."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from casechain.domain.calendar import WorkCalendar
from casechain.domain.crosscase import REFERRAL_STEPS, CaseFacts, Decision, Inspection
from casechain.domain.findings import timeline
from casechain.domain.rulepack import RulePack
from casechain.projections.machinery import Page, held_arms

__all__ = ["FindingSpans"]


def _at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class FindingSpans:
    """The findings' spans of the cross-case view."""

    def __init__(self, pack: RulePack, calendar: WorkCalendar) -> None:
        self.pack = pack
        self.calendar = calendar

    def define(self, metadata: sa.MetaData) -> sa.Table:
        # The checks over time (`domain.findings`): each finding, 应移未移 clock and referral
        # row with the span it holds, recomputed for a subject whenever its facts change.
        self.table = sa.Table(
            "casechain_view_cc_findings", metadata,
            sa.Column("group_key", sa.String(80), primary_key=True),
            sa.Column("n", sa.Integer(), primary_key=True, autoincrement=False),
            sa.Column("kind", sa.String(8), nullable=False),
            sa.Column("case_id", sa.String(64), nullable=False),
            sa.Column("code", sa.String(32), nullable=False),
            sa.Column("jurisdiction", sa.String(12), nullable=False),
            sa.Column("start_epoch", sa.Float(), nullable=False),
            sa.Column("stop_epoch", sa.Float()),
            sa.Column("body", sa.Text(), nullable=False),
            # a finding's severity; 应移未移's clock as the deadlines view keeps clocks
            sa.Column("severity", sa.String(8)),
            sa.Column("started_epoch", sa.Float()),
            sa.Column("base_due_epoch", sa.Float()),
            sa.Column("stopped_epoch", sa.Float()),
            # the case's team as the board shows it (`RulePack.team_after`): the summary
            # counts by team without joining the board
            sa.Column("team", sa.String(16)),
            sa.Index("casechain_view_cc_findings_start", "kind", "start_epoch"),
            # what holds as of an instant: not stopped by then (stop first), started by then,
            # with what the summary counts, read from the index alone (the rows carry their
            # bodies: a tenth of the size, and the city's summary no longer reads them all)
            sa.Index("casechain_view_cc_findings_live", "stop_epoch", "start_epoch",
                     postgresql_include=["kind", "code", "severity", "team", "jurisdiction",
                                         "started_epoch", "base_due_epoch", "stopped_epoch"]),
            # a case page reads its own findings and referral row
            sa.Index("casechain_view_cc_findings_case", "case_id"),
            # a district's or street's findings (`jurisdiction LIKE '330106%'`: a prefix range
            # on PostgreSQL whatever the database's collation, with the pattern operators),
            # then each arm of `held_arms` as a range (the stop) and a check (the start),
            # carrying what a page of alerts orders, colours and keys them by (the rows, with
            # their bodies, are read for the page's thousand only)
            sa.Index("casechain_view_cc_findings_place", "jurisdiction", "stop_epoch",
                     "start_epoch", postgresql_ops={"jurisdiction": "varchar_pattern_ops"},
                     postgresql_include=["kind", "code", "severity", "started_epoch",
                                         "base_due_epoch", "stopped_epoch", "group_key", "n",
                                         "case_id"]),
        )
        return self.table

    def recompute(self, page: Page, groups: set[str], cases: dict[str, dict[str, Any]],
                  decisions: list[dict[str, Any]], inspections: list[dict[str, Any]],
                  facts: tuple[sa.Table, sa.Table, sa.Table]) -> None:
        """Recompute the spans of every subject (or lone case) whose facts this page
        changed, from its stored rows and this page's."""
        subjects = sorted(g[2:] for g in groups if g.startswith("s:"))
        lone = sorted(g[2:] for g in groups if g.startswith("c:"))
        found_facts: dict[str, tuple[list[Any], list[Any], list[Any]]] = {g: ([], [], []) for g in groups}
        every_case = {r["case_id"]: r for r in (*page.rows_where(facts[0], "subject_id", subjects),
                                                *page.rows_where(facts[0], "case_id", lone))}
        every_case.update(cases)
        for row in every_case.values():
            key = _group(row["subject_id"], row["case_id"])
            if key in found_facts:
                found_facts[key][0].append(_facts(row))
        for n, (table, new, read) in enumerate(((facts[1], decisions, _decision),
                                                (facts[2], inspections, _inspection)),
                                               start=1):
            for row in (*page.rows_where(table, "subject_id", subjects),
                        *page.rows_where(table, "case_id", lone), *new):
                key = _group(row["subject_id"], row["case_id"])
                if key in found_facts:
                    found_facts[key][n].append(read(row))
        spans = []
        for key in sorted(found_facts):
            found = timeline(self.pack, self.calendar, *found_facts[key])
            spans += [{"group_key": key, "n": n, "kind": s.kind, "case_id": s.case_id,
                       "code": s.code, "jurisdiction": s.jurisdiction,
                       "start_epoch": s.start.timestamp(),
                       "stop_epoch": s.stop.timestamp() if s.stop else None,
                       "body": s.body.decode(), "team": _team(every_case, s.case_id),
                       **_counted(s)} for n, s in enumerate(found)]
        page.replace_rows_where(self.table, "group_key", sorted(groups), spans)

    def live_arms(self, moment: float) -> list[Any]:
        """SQL: the spans holding at the instant (epoch seconds: started by then, not stopped
        by then), as conditions to select under one at a time (`held_arms`), as
        `running_arms` gives the clocks'."""
        t = self.table.c
        return held_arms(t.start_epoch, t.stop_epoch, moment)

    def held(self, conn: Connection, as_of: datetime, kinds: Sequence[str],
             scope: str | None = None, code: str | None = None
             ) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
        """(kind, case_id, jurisdiction, body) of every span of these kinds that holds at
        `as_of`, inside `scope` (a division prefix of the finding's place), of one code."""
        t = self.table.c
        where: list[Any] = [t.kind.in_(list(kinds))]
        if scope:
            where.append(t.jurisdiction.like(f"{scope}%"))
        if code:
            where.append(t.code == code)
        query = sa.union_all(*(sa.select(t.kind, t.case_id, t.jurisdiction, t.body)
                               .where(arm, *where) for arm in self.live_arms(as_of.timestamp())))
        for kind, case_id, jurisdiction, body in conn.execute(query):
            yield kind, case_id, jurisdiction, orjson.loads(body)



def _counted(span: Any) -> dict[str, Any]:
    """The columns a summary counts by: a finding's severity, a clock's instants."""
    columns: dict[str, Any] = {"severity": None, "started_epoch": None,
                               "base_due_epoch": None, "stopped_epoch": None}
    if span.kind == "finding":  # its due instant, for ordering: when it was found
        body = orjson.loads(span.body)
        columns.update(severity=body["severity"],
                       started_epoch=datetime.fromisoformat(body["due_at"]).timestamp())
    elif span.kind == "clock":
        body = orjson.loads(span.body)
        columns.update(started_epoch=datetime.fromisoformat(body["started_at"]).timestamp(),
                       base_due_epoch=datetime.fromisoformat(body["base_due"]).timestamp(),
                       stopped_epoch=datetime.fromisoformat(body["stopped_at"]).timestamp()
                       if body["stopped_at"] else None)
    return columns


def _team(cases: dict[str, dict[str, Any]], case_id: str) -> str | None:
    """The team of a finding's case: its row's (a case with no row named no item)."""
    row = cases.get(case_id)
    return row["team"] if row is not None else None


def _group(subject_id: str | None, case_id: str) -> str:
    """Which facts a case's checks compare it with: its subject's, or its own alone."""
    return f"s:{subject_id}" if subject_id else f"c:{case_id}"


def _facts(row: Any) -> CaseFacts:
    referral = {step: datetime.fromisoformat(row[f"r_{step}"]) for step in REFERRAL_STEPS
                if row[f"r_{step}"]}
    return CaseFacts(
        case_id=row["case_id"], jurisdiction=row["jurisdiction"], subject_id=row["subject_id"],
        subject_name=row["subject_name"], item_code=row["item_code"], team=row["team"],
        act_date=date.fromisoformat(row["act_date"]) if row["act_date"] else None,
        concluded_at=_at(row["concluded_at"]), amount_involved=row["amount_involved"],
        illegal_gains=row["illegal_gains"], subject_kind=row["subject_kind"],
        **_measures(row["measures"]), circumstances=row["circumstances"],
        harm=row["harm"], corrected=bool(row["corrected"]),
        referral_state=row["referral_state"], referral=referral,
        correction_ordered_at=_at(row["correction_ordered_at"]),
        correction_done_at=_at(row["correction_done_at"]))


def _measures(stored: str | None) -> dict[str, Any]:
    """CaseFacts' measure fields from the stored JSON."""
    if not stored:
        return {}
    given = orjson.loads(stored)
    out: dict[str, Any] = {k: float(given[k]) for k in ("sales_amount", "unsold_value",
                                                         "turnover") if k in given}
    if given.get("quantities"):
        out["quantities"] = tuple(sorted((str(k), float(v))
                                         for k, v in given["quantities"].items()))
    if given.get("conduct"):
        out["conduct"] = tuple(sorted(str(c) for c in given["conduct"]))
    return out


def _decision(row: Any) -> Decision:
    return Decision(
        case_id=row["case_id"], seq=row["seq"], jurisdiction=row["jurisdiction"],
        subject_id=row["subject_id"], item_code=row["item_code"],
        act_date=date.fromisoformat(row["act_date"]) if row["act_date"] else None,
        decided_at=datetime.fromisoformat(row["decided_at"]), outcome=row["outcome"],
        fine=row["fine"], circumstances=row["circumstances"], harm=row["harm"],
        corrected=bool(row["corrected"]))


def _inspection(row: Any) -> Inspection:
    return Inspection(
        case_id=row["case_id"], seq=row["seq"], jurisdiction=row["jurisdiction"],
        subject_id=row["subject_id"], at=datetime.fromisoformat(row["at"]),
        joint=bool(row["joint"]), violation_found=bool(row["violation_found"]))
