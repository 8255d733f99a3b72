"""Questions asked of the views as of an instant: the alerts, the cross-case checks.

Used by the command line and by the pytest plugin (`casechain.testing`), so both give the
same answers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from casechain.domain.crosscase import CrossCase
from casechain.domain.deadlines import evaluate
from casechain.projections.clocks import read_clocks
from casechain.projections.machinery import ProjectionRunner

__all__ = ["alerts_as_of", "cross_case_as_of", "timeline_of"]


def timeline_of(runner: ProjectionRunner, case_id: str) -> list[dict[str, Any]]:
    """The audit-timeline rows of a case (caught up first), in seq order."""
    runner.catch_up(["timeline"])
    table: Any = runner.views["timeline"].table  # type: ignore[attr-defined]
    with runner.store.read() as conn:
        rows = conn.execute(sa.select(table).where(table.c.case_id == case_id)
                            .order_by(table.c.seq)).all()
    return [dict(row._mapping) for row in rows]


def cross_case_as_of(runner: ProjectionRunner, moment: datetime,
                     subject_id: str | None = None) -> CrossCase:
    """The cross-case checks (referrals, subject register) over the caught-up view."""
    runner.catch_up(["crosscase"])
    view: Any = runner.views["crosscase"]
    with runner.store.read() as conn:
        checks: CrossCase = view.checks(conn, moment, subject_id)
    return checks


def alerts_as_of(runner: ProjectionRunner, moment: datetime, scope: str | None = None,
                 code: str | None = None) -> list[dict[str, Any]]:
    """Every alert as of `moment`: running deadlines that are yellow or red (or an open info
    window) and the cross-case findings, in due order."""
    runner.catch_up(["deadlines", "crosscase"])
    clocks_view: Any = runner.views["deadlines"]
    with runner.store.read() as conn:
        clocks = list(read_clocks(conn, clocks_view.table, scope, code))
    found = [e for e in (evaluate(c, moment) for c in clocks)
             if e is not None and e.colour in ("yellow", "red", "info")]
    listed = [e.as_alert() for e in found]
    listed += [a for a in cross_case_as_of(runner, moment).alerts()
               if (code is None or a["code"] == code)
               and (not scope or a["jurisdiction"].startswith(scope))]
    listed.sort(key=lambda a: (a["due_at"], a["case_id"], a["code"], a.get("step", "")))
    return listed
