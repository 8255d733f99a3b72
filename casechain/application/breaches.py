"""The breach register (违限记录): every statutory deadline that was met late.

A deadline leaves the alerts when its step is done; if that was after its due instant it is
a breach (a clock stopped by the case closing, terminating or coming back from the police was
never met, and is not one), kept for evaluation (监督评价, 执法质效): code, case, team, officers, due, met and
lateness. Read from the deadlines view's clocks (a clock stopped after its due instant, the
suspended time counted) joined with the board for the team and the officers, in SQL: a page
at a time, the total counted, and the counts per team and month for the statistics.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from casechain.application.paging import Page, check_limit, cursor_of, instant_key_after
from casechain.domain.calendar import SHANGHAI
from casechain.domain.deadlines import ALERT_LABELS, INFO_CODES
from casechain.errors import QueryInvalid
from casechain.projections.clocks import ALERT_CODES, due_epoch, met_late
from casechain.projections.machinery import ProjectionRunner
from casechain.projections.store import shanghai_month
from casechain.projections.views import views_of

__all__ = ["BREACH_CODES", "breach_counts", "breaches_page"]

#: The clocks that can be met late: every deadline but the information windows and the
#: instants (a hearing notice that came too late is its own alert, HEARING_NOTICE_LATE).
BREACH_CODES = tuple(c for c in ALERT_CODES if c not in INFO_CODES
                     and c != "HEARING_NOTICE_LATE")
#: Events that stop a clock without its step being done: the case closed or terminated, or
#: the police returning it. Such a clock was not met late, it was never met.
NOT_MET = ("penalty.closed", "penalty.terminated", "referral.returned",
           "supervision.inspected")  # an inspection finding nothing: no capture to tell of


def breaches_page(runner: ProjectionRunner, scope: str | None, code: str | None = None,
                  met_from: datetime | None = None, met_to: datetime | None = None,
                  limit: int | None = None, cursor: str | None = None) -> Page:
    """A page of the breaches inside `scope` (of one code; met in [met_from, met_to)), in the
    order they were met (keyset on met instant, case, code, step), and the total."""
    if code is not None and code not in BREACH_CODES:
        raise QueryInvalid("code", code, f"is not a deadline that can be breached "
                           f"({', '.join(BREACH_CODES)})")
    size = check_limit(limit)
    key = instant_key_after(cursor)
    runner.ready(["deadlines", "board"])
    clocks, board = _tables(runner)
    c = clocks.c
    where = _breached(clocks, scope, code, met_from, met_to)
    query = (sa.select(c.case_id, c.code, c.part, c.jurisdiction, c.started_at, c.stopped_at,
                       c.stopped_epoch, c.days, due_epoch(c).label("due_epoch"), board.c.team,
                       board.c.officers)
             .select_from(clocks.outerjoin(board, board.c.case_id == c.case_id))
             .where(*where).order_by(c.stopped_epoch, c.case_id, c.code, c.part)
             .limit(size + 1))
    if key is not None:
        query = query.where(sa.tuple_(c.stopped_epoch, c.case_id, c.code, c.part) > key)
    total_query = (sa.select(sa.func.count())
                   .select_from(clocks.outerjoin(board, board.c.case_id == c.case_id))
                   .where(*where))
    with runner.store.read() as conn:
        rows = conn.execute(query).all()
        total = int(conn.execute(total_query).scalar() or 0)
    listed = [_breach(row) for row in rows[:size]]
    more = len(rows) > size
    last = rows[size - 1] if more else None
    return Page(listed, total, cursor_of((last.stopped_epoch, last.case_id, last.code,
                                          last.part)) if last is not None else None)


def breach_counts(runner: ProjectionRunner, scope: str | None,
                  until: datetime | None = None) -> list[dict[str, Any]]:
    """How many breaches per team, month (Asia/Shanghai, when met) and code: the figures of
    执法质效 in the statistics; with `until`, only those met before it."""
    runner.ready(["deadlines", "board"])
    clocks, board = _tables(runner)
    c = clocks.c
    month = shanghai_month(c.stopped_epoch)
    query = (sa.select(board.c.team, month, c.code, sa.func.count())
             .select_from(clocks.outerjoin(board, board.c.case_id == c.case_id))
             .where(*_breached(clocks, scope, None, None, until))
             .group_by(board.c.team, month, c.code))
    counted: Counter[tuple[str, str, str]] = Counter()
    with runner.store.read() as conn:
        for team, met_in, code, n in conn.execute(query):
            counted[(team or "", met_in, code)] += n  # no team and "" are one row
    return [{"team": team or None, "month": met_in, "code": code,
             "label": ALERT_LABELS[code][0], "count": n}
            for (team, met_in, code), n in sorted(counted.items())]


def _tables(runner: ProjectionRunner) -> tuple[sa.Table, sa.Table]:
    views = views_of(runner)
    return views.deadlines.table, views.board.table


def _breached(clocks: sa.Table, scope: str | None, code: str | None,
              met_from: datetime | None, met_to: datetime | None) -> list[Any]:
    c = clocks.c
    where = [c.code.in_(BREACH_CODES) if code is None else c.code == code,
             met_late(c),
             sa.or_(c.stopped_by.is_(None), c.stopped_by.not_in(NOT_MET))]
    if scope:
        where.append(c.jurisdiction.like(f"{scope}%"))
    if met_from is not None:
        where.append(c.stopped_epoch >= met_from.timestamp())
    if met_to is not None:
        where.append(c.stopped_epoch < met_to.timestamp())
    return where


def _breach(row: Any) -> dict[str, Any]:
    label, _, source = ALERT_LABELS[row.code]
    late = float(row.stopped_epoch) - float(row.due_epoch)
    due_at = datetime.fromtimestamp(float(row.due_epoch), UTC).astimezone(SHANGHAI)
    return {"code": row.code, "label": label, "case_id": row.case_id,
            "step": row.part or None, "jurisdiction": row.jurisdiction, "team": row.team,
            "officers": [o for o in (row.officers or "").split(",") if o],
            "started_at": row.started_at, "due_at": due_at.isoformat(),
            "met_at": row.stopped_at, "lateness_seconds": round(late),
            "lateness": lateness(late),
            "detail": f"{label}：应于 {_local(due_at)} 前完成，{_local(row.stopped_at)} 完成，"
                      f"逾期{lateness(late)}（{source}）"}


def _local(moment: datetime | str) -> str:
    """An instant as people in Hangzhou read it: 2025-09-12 00:00:00."""
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return when.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def lateness(seconds: float) -> str:
    """How late, for people: 3天4小时, 2小时5分, 40秒."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时" if hours else f"{days}天"
    if hours:
        return f"{hours}小时{minutes}分" if minutes else f"{hours}小时"
    return f"{minutes}分{secs}秒" if minutes else f"{secs}秒"
