"""The cross-case view: each case's own facts, decisions and inspections, kept for the
referral checks and the subject register (`casechain.domain.crosscase`).

Rows are folds of one case's events (in the case's own order), never of other cases', so
they are the same whichever order the cases arrived in; the checks that look across cases
run on these rows when asked, as of an instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from casechain.batching import one_of
from casechain.domain.calendar import WorkCalendar
from casechain.domain.crosscase import MEASURES, REFERRAL_STEPS, CrossCase
from casechain.domain.jurisdiction import jurisdiction_after
from casechain.domain.law import amount_of
from casechain.domain.rulepack import RulePack
from casechain.projections.findings import (
    FindingSpans,
    _decision,
    _facts,
    _group,
    _inspection,
)
from casechain.projections.machinery import Page, seen_before

__all__ = ["CrossCaseView"]

Records = Sequence[tuple[int, dict[str, Any]]]
_SUBJECT_FROM = ("approval.granted", "approval.rejected", "supervision.clue_registered",
                 "penalty.case_filed")


class CrossCaseView:
    """行刑衔接 and 一户一档: per-case facts, decisions and inspections."""

    name = "crosscase"
    # 2: subject_kind (persons' ids are masked for some readers); 3: a case keeps the
    # jurisdiction of its first event until case.transferred; 4: the findings' spans;
    # 5: a finding's severity and a clock's start, due and stop as columns (counted in SQL)
    # 6: the police's reconsideration decision and the procuratorate's supervision (Decree
    # 310 Art. 9) as referral steps; the thresholds' measures (sales, quantities, conduct);
    # 7: the findings' words in zh-CN; the spans indexed by case (the case page);
    # 8: the spans indexed by stop and start (what holds as of an instant, read by range),
    # the cases by subject kind (which subjects are persons); 9: the spans indexed by place
    # (a district's alerts read its own spans, not the city's); 10: the spans carry their
    # case's team (the alert summary counts by team without joining the board); 11: 重复检查
    # names its window's cases in `inspection_cases` (a scoped reader's answer hides those
    # of other districts, as the detail named them); 12: the spans of a place indexed by
    # stop then start (a district's spans holding at a past instant read without the others);
    # 13: the spans' index by stop and start carries what the summary counts (read from the
    # index alone, not from rows with their bodies)
    version = 13

    def __init__(self, pack: RulePack, calendar: WorkCalendar) -> None:
        self.pack = pack
        self.calendar = calendar
        self.spans = FindingSpans(pack, calendar)

    def define(self, metadata: sa.MetaData) -> list[sa.Table]:
        self.cases = sa.Table(
            "casechain_view_cc_cases", metadata,
            sa.Column("case_id", sa.String(64), primary_key=True),
            sa.Column("jurisdiction", sa.String(12), nullable=False),
            sa.Column("subject_id", sa.String(64), index=True),
            sa.Column("subject_name", sa.Text()),
            sa.Column("subject_kind", sa.String(16)),
            sa.Column("item_code", sa.String(64)),
            sa.Column("team", sa.String(16)),
            sa.Column("act_date", sa.String(10)),
            sa.Column("concluded_at", sa.String(40)),
            sa.Column("amount_involved", sa.Float(), nullable=False),
            sa.Column("illegal_gains", sa.Float(), nullable=False),
            # The criminal thresholds' other measures: sales_amount, unsold_value, turnover,
            # quantities and conduct, as JSON (NULL: none given).
            sa.Column("measures", sa.Text()),
            sa.Column("circumstances", sa.String(16)),
            sa.Column("harm", sa.String(16)),
            sa.Column("corrected", sa.Boolean(), nullable=False),
            sa.Column("referral_state", sa.String(64)),
            *(sa.Column(f"r_{step}", sa.String(40)) for step in REFERRAL_STEPS),
            sa.Column("correction_ordered_at", sa.String(40)),
            sa.Column("correction_done_at", sa.String(40)),
            # which of an answer's subjects are persons (their ids masked): index-only
            sa.Index("casechain_view_cc_cases_person", "subject_kind", "subject_id"),
        )
        self.decisions = sa.Table(
            "casechain_view_cc_decisions", metadata,
            sa.Column("case_id", sa.String(64), primary_key=True),
            sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
            sa.Column("jurisdiction", sa.String(12), nullable=False),
            sa.Column("subject_id", sa.String(64), index=True),
            sa.Column("item_code", sa.String(64)),
            sa.Column("act_date", sa.String(10)),
            sa.Column("decided_at", sa.String(40), nullable=False),
            sa.Column("outcome", sa.String(16), nullable=False),
            sa.Column("fine", sa.Float(), nullable=False),
            sa.Column("circumstances", sa.String(16)),
            sa.Column("harm", sa.String(16)),
            sa.Column("corrected", sa.Boolean(), nullable=False),
        )
        self.inspections = sa.Table(
            "casechain_view_cc_inspections", metadata,
            sa.Column("case_id", sa.String(64), primary_key=True),
            sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
            sa.Column("jurisdiction", sa.String(12), nullable=False),
            sa.Column("subject_id", sa.String(64), index=True),
            sa.Column("at", sa.String(40), nullable=False),
            sa.Column("joint", sa.Boolean(), nullable=False),
            sa.Column("violation_found", sa.Boolean(), nullable=False),
        )
        self.findings = self.spans.define(metadata)
        return [self.cases, self.decisions, self.inspections, self.findings]

    def concerns(self, conn: Connection, records: Records, case_id: str) -> bool:
        """Whether any of these records, not yet folded here, could change the findings of
        `case_id`: an event of the case itself, or of a case that names, or was filed
        against, the same subject (a case's findings compare it with its subject's other
        cases alone; a case with no subject is compared with nothing)."""
        relevant = [r for _, r in records if r["type"] in _FOLDS]
        cases = sorted({r["case_id"] for r in relevant})
        if case_id in cases:
            return True
        if not cases:
            return False
        t = self.cases.c
        stored: dict[str, str | None] = {}
        for condition in one_of(conn, t.case_id, [case_id, *cases]):
            stored.update(tuple(row) for row in conn.execute(
                sa.select(t.case_id, t.subject_id).where(condition)))
        subject = stored.get(case_id)
        if subject is None:
            return False
        named = {str(r["payload"]["subject"].get("id")) for r in relevant
                 if isinstance(r["payload"].get("subject"), dict)}
        return subject in named or any(stored.get(other) == subject for other in cases)

    # -- folding ----------------------------------------------------------------------
    def apply(self, page: Page, records: Records) -> None:
        relevant = [r for _, r in records if r["type"] in _FOLDS]
        if not relevant:
            return
        case_ids = sorted({r["case_id"] for r in relevant})
        rows = {row["case_id"]: row for row in page.case_rows(self.cases, seen_before(relevant))}
        stored = list(rows)
        groups = {_group(row["subject_id"], case_id) for case_id, row in rows.items()}
        decisions: list[dict[str, Any]] = []
        inspections: list[dict[str, Any]] = []
        for r in relevant:
            row = rows.setdefault(r["case_id"], _blank(r))
            row["jurisdiction"] = jurisdiction_after(row.get("jurisdiction"), r)
            _FOLDS[r["type"]](self, row, r, decisions, inspections)
        page.replace_case_rows(self.cases, stored, [rows[c] for c in case_ids])
        page.insert_rows(self.decisions, decisions, [d["case_id"] for d in decisions])
        page.insert_rows(self.inspections, inspections, [i["case_id"] for i in inspections])
        groups |= {_group(row["subject_id"], row["case_id"])
                   for row in (*rows.values(), *decisions, *inspections)}
        self.spans.recompute(page, groups, rows, decisions, inspections,
                             (self.cases, self.decisions, self.inspections))

    def _subject(self, row: dict[str, Any], r: dict[str, Any], *_: Any) -> None:
        subject = r["payload"]["subject"]
        row["subject_id"] = str(subject.get("id"))
        row["subject_name"] = subject.get("name")
        row["subject_kind"] = subject.get("kind")
        item = r["payload"].get("item_code")
        if item:
            row["item_code"] = item
        row["team"] = self.pack.team_after(row["team"], r)
        if r["type"] == "penalty.case_filed":
            row.update(act_date=r["payload"]["act_date"], concluded_at=None, amount_involved=0.0,
                       illegal_gains=0.0, circumstances=None, harm=None, corrected=False)

    def _concluded(self, row: dict[str, Any], r: dict[str, Any], *_: Any) -> None:
        p = r["payload"]
        row.update(concluded_at=r["occurred_at"], amount_involved=float(p["amount_involved"]),
                   illegal_gains=float(p["illegal_gains"]), circumstances=p["circumstances"],
                   harm=p["harm"], corrected=bool(p["corrected"]), measures=_measures(p))

    def _decided(self, row: dict[str, Any], r: dict[str, Any], decisions: list[dict[str, Any]],
                 _: Any) -> None:
        p = r["payload"]
        decisions.append({
            "case_id": r["case_id"], "seq": r["seq"], "jurisdiction": row["jurisdiction"],
            "subject_id": row["subject_id"], "item_code": row["item_code"],
            "act_date": row["act_date"], "decided_at": r["occurred_at"],
            "outcome": p["outcome"], "fine": amount_of(p["penalties"], "fine"),
            "circumstances": row["circumstances"], "harm": row["harm"],
            "corrected": row["corrected"]})

    def _inspected(self, row: dict[str, Any], r: dict[str, Any], _: Any,
                   inspections: list[dict[str, Any]]) -> None:
        p = r["payload"]
        inspections.append({
            "case_id": r["case_id"], "seq": r["seq"], "jurisdiction": row["jurisdiction"],
            "subject_id": row["subject_id"], "at": r["occurred_at"], "joint": bool(p["joint"]),
            "violation_found": bool(p["violation_found"])})

    def _referral(self, row: dict[str, Any], r: dict[str, Any], *_: Any) -> None:
        step = r["type"].partition(".")[2]
        if step == "reported":  # a new referral (after a return): its own timings
            for later in REFERRAL_STEPS[REFERRAL_STEPS.index("reported"):]:
                row[f"r_{later}"] = None
        row[f"r_{step}"] = r["occurred_at"]
        # The police's decision on reconsideration leaves the referral filed or declined.
        row["referral_state"] = (f"police_{r['payload']['result']}"
                                 if step == "reconsideration_decided" else step)

    def _correction(self, row: dict[str, Any], r: dict[str, Any], *_: Any) -> None:
        if r["type"] == "supervision.correction_ordered":
            row.update(correction_ordered_at=r["occurred_at"], correction_done_at=None)
        elif r["payload"].get("corrected"):
            row["correction_done_at"] = r["occurred_at"]

    # -- reading --------------------------------------------------------------------------
    def persons(self, conn: Connection, subject_ids: set[str]) -> set[str]:
        """Which of these subject ids belong to persons (not organisations)."""
        c = self.cases.c
        found: set[str] = set()
        for condition in one_of(conn, c.subject_id, sorted(subject_ids)):
            found.update(row[0] for row in conn.execute(
                sa.select(c.subject_id).where(condition, c.subject_kind == "person").distinct()))
        return found

    def checks(self, conn: Connection, as_of: datetime, subject_id: str | None = None,
               scope: str | None = None) -> CrossCase:
        """The cross-case checks over the view's rows as of `as_of`: all of them, one
        subject's, or those a division prefix needs (see `_within`)."""
        tables = (self.cases, self.decisions, self.inspections)
        queries = [sa.select(t) for t in tables]
        if subject_id is not None:
            queries = [q.where(t.c.subject_id == subject_id)
                       for q, t in zip(queries, tables, strict=True)]
        if scope:
            queries = [q.where(self._within(t, scope))
                       for q, t in zip(queries, tables, strict=True)]
        cases = [_facts(row._mapping) for row in conn.execute(queries[0])]
        decisions = [_decision(row._mapping) for row in conn.execute(queries[1])]
        inspections = [_inspection(row._mapping) for row in conn.execute(queries[2])]
        return CrossCase(self.pack, self.calendar, cases, decisions, inspections, as_of)

    def _within(self, table: sa.Table, scope: str) -> Any:
        """Rows the checks of cases inside `scope` depend on: every rule compares a case
        only with the cases, decisions and inspections of the same subject, so those of the
        subjects met inside the scope (wherever they were recorded) and the scope's own rows
        give the scope's cases the answers the whole city would."""
        inside = f"{scope}%"
        tables = (self.cases, self.decisions, self.inspections)
        subjects = sa.union(*(sa.select(t.c.subject_id).where(
            t.c.jurisdiction.like(inside), t.c.subject_id.is_not(None)) for t in tables))
        # One IN over the cases wanted (a semi-join), not three tests joined by OR: under OR
        # PostgreSQL may run a subquery again for every row once its statistics say the
        # subquery is large (a district's checks on the city year: 2.5 s, then minutes).
        wanted = sa.union(*(sa.select(t.c.case_id).where(t.c.jurisdiction.like(inside))
                            for t in tables),
                          sa.select(table.c.case_id).where(table.c.subject_id.in_(subjects)))
        return table.c.case_id.in_(wanted)


def _measures(payload: dict[str, Any]) -> str | None:
    """The optional measures of an investigation's conclusion, as stored (JSON), or None."""
    kept = {k: payload[k] for k in MEASURES if payload.get(k) is not None}
    return orjson.dumps(kept, option=orjson.OPT_SORT_KEYS).decode() if kept else None


def _blank(r: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {c: None for c in (
        "subject_id", "subject_name", "subject_kind", "item_code", "team", "act_date", "measures",
        "concluded_at", "circumstances", "harm", "referral_state", "correction_ordered_at",
        "correction_done_at")}
    row.update({f"r_{step}": None for step in REFERRAL_STEPS})
    row.update(case_id=r["case_id"], amount_involved=0.0, illegal_gains=0.0, corrected=False)
    return row


_FOLDS: dict[str, Any] = {
    "case.transferred": lambda *_: None,  # the case's row moves (in `apply`), nothing else
    **{kind: CrossCaseView._subject for kind in _SUBJECT_FROM},
    "penalty.investigation_concluded": CrossCaseView._concluded,
    "penalty.decided": CrossCaseView._decided,
    "supervision.inspected": CrossCaseView._inspected,
    "supervision.correction_ordered": CrossCaseView._correction,
    "supervision.correction_verified": CrossCaseView._correction,
    **{f"referral.{step}": CrossCaseView._referral for step in REFERRAL_STEPS},
}
