"""Questions asked of the views as of an instant: the alerts, the cross-case checks.

Used by the command line and by the pytest plugin (`casechain.testing`), so both give the
same answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from casechain.application.breaches import breach_counts
from casechain.application.case_log import CaseLog
from casechain.batching import one_of
from casechain.domain.calendar import SHANGHAI
from casechain.domain.case import CaseFile
from casechain.domain.crosscase import CrossCase, referral_rates
from casechain.domain.deadlines import evaluate
from casechain.domain.findings import clock_alert
from casechain.domain.payloads import STAGE_LABELS
from casechain.domain.subjects import earlier_penalties
from casechain.projections.clocks import (
    ALERT_CODES,
    clock_of,
    colour_at,
    due_at,
    read_clocks,
    running_arms,
)
from casechain.projections.machinery import ProjectionRunner
from casechain.projections.views import response_shares, views_of

__all__ = [
    "BOARD_GROUPS",
    "BOARD_GROUPS_AS_OF",
    "alert_counts",
    "alert_rows",
    "alerts_as_of",
    "board_counts",
    "board_rows",
    "board_total",
    "case_file",
    "case_jurisdictions",
    "case_view",
    "cross_case_alerts",
    "cross_case_as_of",
    "deadlines_as_of",
    "due_order",
    "referral_rates",
    "referral_rows",
    "response_of",
    "span_row_alert",
    "statistics_of",
    "timeline_of",
    "without_outside_cases",
]

#: The columns the supervision board may be counted by.
BOARD_GROUPS = ("district", "team", "stage", "state", "item_code")
#: What the board counts by, and filters on, as of an instant (its spans' columns).
BOARD_GROUPS_AS_OF = ("district", "team", "stage")


def case_view(case_log: CaseLog, runner: ProjectionRunner, case_id: str, scope: str = "",
              records: list[dict[str, Any]] | None = None,
              known: Mapping[str, int] | None = None) -> dict[str, Any]:
    """A case's stage, state and subject, and its audit timeline (who, what, when, from
    where, under which rule-pack version) from the timeline view, with payloads and hashes
    from the log (`records`, when the caller has read them already; `known`, the views'
    positions if it has read those too: `ProjectionRunner.ready`). `CaseNotFound` if no
    event of the case is recorded. The subject's earlier penalties are listed inside `scope`
    only; those outside are counted."""
    if records is None:
        records = case_log.case_records(case_id)
    file = case_file(case_id, records)
    by_seq = {r["seq"]: r for r in records}
    last = max(r["position"] for r in records)
    timeline = [_timeline_entry(row, by_seq[row["seq"]])
                for row in timeline_of(runner, case_id, last, known) if row["seq"] in by_seq]
    return {"case_id": case_id, "stage": file.stage,
            "stage_label": STAGE_LABELS.get(file.stage or ""), "state": file.state,
            "referral_state": file.referral_state, "cycle": file.cycle, "seq": file.seq,
            "head_hash": file.head_hash, "jurisdiction": file.jurisdiction,
            "item_code": file.item_code, "subject": _subject_view(case_log, file, scope),
            "timeline": timeline}


def case_file(case_id: str, records: list[dict[str, Any]]) -> CaseFile:
    """The case folded from its stored records (stage, state, subject, ...)."""
    file = CaseFile(case_id=case_id)
    for record in records:
        file.apply(record)
    return file


def _subject_view(case_log: CaseLog, file: Any, scope: str) -> dict[str, Any] | None:
    """The subject of the case and, for a filed case, whether this is a first offence (the
    law counts penalties anywhere; ids, dates and fines are shown inside `scope` only)."""
    if not file.subject:
        return None
    view: dict[str, Any] = dict(file.subject)
    if file.act_date:
        decisions = case_log.subject_decisions(str(file.subject["id"]))
        act_date = date.fromisoformat(file.act_date)
        earlier = earlier_penalties(decisions, item_code=file.item_code, act_date=act_date,
                                    case_id=file.case_id)
        held = case_log.jurisdictions({d.case_id for d in earlier}) if scope else {}
        inside = [d for d in earlier if (held.get(d.case_id) or "").startswith(scope)]
        view["first_offence"] = not earlier
        view["earlier_penalties"] = [{"case_id": d.case_id, "act_date": d.act_date.isoformat(),
                                      "decided_on": d.decided_on.isoformat(), "fine": d.fine}
                                     for d in inside]
        outside = len(earlier) - len(inside)
        view["earlier_penalties_outside_scope"] = outside
        if outside:
            view["earlier_penalties_note"] = f"辖区外另有 {outside} 次处罚"
    return view


def _timeline_entry(row: Any, record: dict[str, Any]) -> dict[str, Any]:
    """A timeline-view row, with the event's payload and hash from the log."""
    actor = {key: row[column] for key, column in (("id", "actor_id"), ("role", "actor_role"),
                                                  ("org", "actor_org"), ("cert_no", "cert_no"))
             if row[column] is not None}
    return {"seq": row["seq"], "position": row["position"], "type": row["type"],
            "rules_version": row["rules_version"], "label": row["label"],
            "occurred_at": row["occurred_at"], "recorded_at": row["recorded_at"],
            "actor": actor, "source": row["source"], "event_id": row["event_id"],
            "hash": record["hash"], "payload": record["payload"]}


def timeline_of(runner: ProjectionRunner, case_id: str, position: int | None = None,
                known: Mapping[str, int] | None = None) -> list[dict[str, Any]]:
    """The audit-timeline rows of a case in seq order, the view caught up to `position`
    first (the case's last event's: its rows come from its own events alone; the log's
    head when None; `known`: the view's position as the caller has just read it)."""
    runner.ready(["timeline"], position, known)
    table = views_of(runner).timeline.table
    with runner.store.read() as conn:
        rows = conn.execute(sa.select(table).where(table.c.case_id == case_id)
                            .order_by(table.c.seq)).all()
    return [dict(row._mapping) for row in rows]


def cross_case_as_of(runner: ProjectionRunner, moment: datetime,
                     subject_id: str | None = None, scope: str | None = None) -> CrossCase:
    """The cross-case checks (referrals, subject register) over the caught-up view; with
    `scope`, over the rows its cases depend on only (their answers are the same; cases
    outside the scope are not all there)."""
    runner.ready(["crosscase"])
    view = views_of(runner).crosscase
    with runner.store.read() as conn:
        checks: CrossCase = view.checks(conn, moment, subject_id, scope)
    return checks


def person_subjects(runner: ProjectionRunner, subject_ids: set[str]) -> set[str]:
    """Which of these subject ids are persons', by the cross-case view (the ids come from an
    answer just read from the caught-up views: no catch-up again)."""
    if not subject_ids:
        return set()
    view = views_of(runner).crosscase
    with runner.store.read() as conn:
        persons: set[str] = view.persons(conn, subject_ids)
    return persons


def alerts_as_of(runner: ProjectionRunner, moment: datetime, scope: str | None = None,
                 code: str | None = None) -> list[dict[str, Any]]:
    """Every alert as of `moment`: running deadlines that are yellow or red (or an open info
    window) and the cross-case findings, in due order."""
    runner.ready(["deadlines", "crosscase"])
    listed = [a for a in _running_deadlines(runner, moment, scope, code)
              if a["severity"] != "green"]
    listed += cross_case_alerts(runner, moment, scope, code)
    return sorted(listed, key=due_order)


def cross_case_alerts(runner: ProjectionRunner, moment: datetime, scope: str | None = None,
                      code: str | None = None) -> list[dict[str, Any]]:
    """The cross-case findings as of `moment` inside `scope`: a range read of the findings'
    spans (the cross-case view caught up by the caller), 应移未移's clock evaluated at
    `moment`."""
    view = views_of(runner).crosscase
    found: list[dict[str, Any]] = []
    with runner.store.read() as conn:
        for kind, case_id, place, body in view.spans.held(conn, moment, ("finding", "clock"), scope,
                                                    code):
            if kind == "finding":
                found.append(body)
                continue
            alert = clock_alert(case_id, place, body, moment)
            if alert is not None:
                found.append(alert)
    return found


def alert_counts(runner: ProjectionRunner, moment: datetime, scope: str | None, width: int,
                 deadlines_only: bool = False, with_green: bool = False
                 ) -> dict[tuple[str, str, str | None, str], int]:
    """How many alerts as of `moment` (with `deadlines_only`, running deadlines; with
    `with_green`, green ones too) by code, severity, team and the first `width` digits of
    the place — counted in SQL: the colours are comparisons of the clocks' instants, the
    findings' severities are columns. The same counts as `alerts_as_of`'s rows."""
    runner.ready(["deadlines", "crosscase"])
    views = views_of(runner)
    at = moment.timestamp()
    clocks = views.deadlines.table
    parts = [_counted(clocks, colour_at(clocks.c, at), width, scope).where(
        arm, clocks.c.code.in_(ALERT_CODES)) for arm in running_arms(clocks.c, at)]
    if not deadlines_only:
        f = views.crosscase.findings
        parts += [_counted(f, _span_severity(f.c, at), width, scope).where(
            arm, f.c.kind.in_(["finding", "clock"])) for arm in views.crosscase.spans.live_arms(at)]
    # Both carry their case's team as the board shows it: counted without a join.
    alerting = sa.union_all(*parts).subquery()
    team = sa.func.nullif(alerting.c.team, "")
    query = (sa.select(alerting.c.code, alerting.c.severity, team, alerting.c.place,
                       sa.func.count())
             .group_by(alerting.c.code, alerting.c.severity, team, alerting.c.place))
    counts: dict[tuple[str, str, str | None, str], int] = {}
    with runner.store.read() as conn:
        for code, severity, team_, place, n in conn.execute(query):
            if severity is None or (severity == "green" and not with_green):
                continue
            key = (str(code), str(severity), team_ or None, str(place))
            counts[key] = counts.get(key, 0) + int(n)
    return counts


#: The order alerts and deadlines are paged in: due instant (epoch seconds), case, code, step.
PageKey = tuple[float, str, str, str]


def alert_rows(runner: ProjectionRunner, moment: datetime, scope: str | None,
               code: str | None, severity: str | None, limit: int, after: PageKey | None,
               deadlines_only: bool = False
               ) -> tuple[list[dict[str, Any]], list[PageKey], int]:
    """Up to `limit` alerts as of `moment` (with `deadlines_only`: running deadlines, green
    ones too) after the key `after`, in due order, their keys, and how many the listing
    holds: ordered, cut, filtered and counted in SQL (colours and due instants are
    comparisons of the clocks' instants), only the page's rows built in Python."""
    runner.ready(["deadlines"] if deadlines_only else ["deadlines", "crosscase"])
    views = views_of(runner)
    at = moment.timestamp()
    clocks, findings = views.deadlines.table, views.crosscase.findings
    c, f = clocks.c, findings.c
    none_text, none_int = sa.cast(sa.null(), sa.String), sa.cast(sa.null(), sa.Integer)
    parts = [sa.select(sa.literal("clock").label("src"), due_at(c, at).label("due"),
                       c.case_id.label("case_id"), c.code.label("code"), c.part.label("step"),
                       colour_at(c, at).label("severity"), none_text.label("group_key"),
                       none_int.label("n"))
             .where(arm, c.code.in_(ALERT_CODES), *_place_and_code(c, scope, code))
             for arm in running_arms(c, at, _city_wide(scope))]
    if not deadlines_only:
        parts += [sa.select(
            sa.literal("span").label("src"),
            sa.case((f.kind == "finding", f.started_epoch), else_=f.base_due_epoch).label("due"),
            f.case_id.label("case_id"), f.code.label("code"), sa.literal("").label("step"),
            _span_severity(f, at).label("severity"), f.group_key.label("group_key"),
            f.n.label("n"))
            .where(arm, f.kind.in_(["finding", "clock"]), *_place_and_code(f, scope, code))
            for arm in views.crosscase.spans.live_arms(at)]
    every = sa.union_all(*parts).subquery()
    u = every.c
    listed = sa.select(every).where(u.severity.is_not(None))
    if not deadlines_only:
        listed = listed.where(u.severity != "green")
    if severity is not None:
        listed = listed.where(u.severity == severity)
    # The listing's size counted in the same pass that finds the page (a window over every
    # row, before the cursor cuts them): one scan of the running clocks, not two.
    counted_rows = listed.add_columns(sa.func.count().over().label("total")).subquery()
    v = counted_rows.c
    query = sa.select(counted_rows)
    if after is not None:
        query = query.where(sa.tuple_(v.due, v.case_id, v.code, v.step)
                            > sa.tuple_(*(sa.literal(part) for part in after)))
    cut = query.order_by(v.due, v.case_id, v.code, v.step).limit(limit).subquery()
    # The page's own rows joined by their keys in the same statement: a clock's columns, a
    # span's body — a thousand key lookups, not a second and third read of the place.
    p = cut.c
    query = (sa.select(p.src, p.due, p.case_id, p.code, p.step, p.total, c.part,
                       sa.func.coalesce(c.jurisdiction, f.jurisdiction).label("jurisdiction"),
                       c.started_at, c.base_due, c.suspended_seconds, c.suspended_since,
                       c.stopped_at, c.fine, c.instant, c.note, c.surcharge_pauses, f.kind,
                       f.body)
             .select_from(cut.outerjoin(clocks, sa.and_(  # a span's row looks up no clock
                 c.case_id == sa.case((p.src == "clock", p.case_id)), c.code == p.code,
                 c.part == p.step))
                 .outerjoin(findings, sa.and_(  # a clock's row has no group key
                     f.group_key == p.group_key, f.n == p.n)))
             .order_by(p.due, p.case_id, p.code, p.step))
    with runner.store.read() as conn:
        page = conn.execute(query).all()
        counted = (int(page[0].total) if page else 0 if after is None else int(
            conn.execute(sa.select(sa.func.count()).select_from(listed.subquery())).scalar()
            or 0))
    rows, keys = [], []
    for r in page:
        alert = clock_row_alert(r, moment) if r.src == "clock" else span_row_alert(r, moment)
        if alert is not None:
            rows.append(alert)
            keys.append((float(r.due), str(r.case_id), str(r.code), str(r.step)))
    return rows, keys, counted


def _city_wide(scope: str | None) -> bool:
    """A scope wider than a district (six digits): a page of its clocks reads them a length
    class at a time (`running_arms`); a district's or a street's, from the place's index."""
    return scope is None or len(scope) < 6


def _place_and_code(c: Any, scope: str | None, code: str | None) -> list[Any]:
    where = []
    if scope:
        where.append(c.jurisdiction.like(f"{scope}%"))
    if code:
        where.append(c.code == code)
    return where


def _span_severity(f: Any, at: float) -> Any:
    """SQL: a finding's severity, or the colour of 应移未移's clock at the instant (NULL
    before it started or once it stopped)."""
    return sa.case((f.kind == "finding", f.severity), else_=sa.case(
        (sa.and_(f.started_epoch <= at, sa.or_(f.stopped_epoch.is_(None),
                                               f.stopped_epoch > at)),
         colour_at(_ClockColumns(f), at)), else_=sa.null()))


def clock_row_alert(row: Any, moment: datetime) -> dict[str, Any] | None:
    """The alert of a row of the deadlines view as of `moment` (any colour), or None."""
    evaluation = evaluate(clock_of(row), moment)
    return evaluation.as_alert() if evaluation is not None else None


def span_row_alert(row: Any, moment: datetime) -> dict[str, Any] | None:
    """The alert of a finding's or 应移未移 clock's span row as of `moment`, or None."""
    body: dict[str, Any] = orjson.loads(row.body)
    return body if row.kind == "finding" else clock_alert(row.case_id, row.jurisdiction, body,
                                                          moment)


class _ClockColumns:
    """The findings' clock columns under the names `colour_at` reads."""

    def __init__(self, c: Any) -> None:
        self.started_epoch, self.base_due_epoch, self.code = (
            c.started_epoch, c.base_due_epoch, c.code)
        self.suspended_since_epoch = sa.null()
        self.suspended_seconds = sa.literal(0.0)
        self.instant = sa.false()


def _counted(table: sa.Table, severity: Any, width: int, scope: str | None) -> Any:
    """SQL: the code, severity, team and place (its first `width` digits) of each row."""
    place = sa.func.substr(table.c.jurisdiction, 1, width)
    return (sa.select(table.c.code, severity.label("severity"), table.c.team,
                      place.label("place"))
            .where(*_place_and_code(table.c, scope, None)))


def referral_rows(runner: ProjectionRunner, moment: datetime, scope: str | None = None
                  ) -> list[dict[str, Any]]:
    """行刑衔接 as of `moment` inside `scope`: every case reaching a threshold or with
    referral steps, in case-id order (a range read of the cross-case view's spans)."""
    runner.ready(["crosscase"])
    view = views_of(runner).crosscase
    with runner.store.read() as conn:
        rows = [body for *_, body in view.spans.held(conn, moment, ("referral",), scope)]
    return sorted(rows, key=lambda row: row["case_id"])


def deadlines_as_of(runner: ProjectionRunner, moment: datetime, scope: str | None = None,
                    code: str | None = None) -> list[dict[str, Any]]:
    """Every running statutory deadline as of `moment`, green ones included, in due order."""
    runner.ready(["deadlines"])
    return sorted(_running_deadlines(runner, moment, scope, code), key=due_order)


def _running_deadlines(runner: ProjectionRunner, moment: datetime, scope: str | None,
                       code: str | None) -> list[dict[str, Any]]:
    """The deadlines running at `moment`, as alert objects with their colour (the deadlines
    view already caught up)."""
    table = views_of(runner).deadlines.table
    with runner.store.read() as conn:
        clocks = list(read_clocks(conn, table, scope, code, running=moment))
    return [e.as_alert() for e in (evaluate(c, moment) for c in clocks) if e is not None]


def due_order(alert: dict[str, Any]) -> tuple[str, str, str, str]:
    """The order alerts and deadlines are listed in: due instant, case, code, step."""
    return alert["due_at"], alert["case_id"], alert["code"], alert.get("step", "")


def board_rows(runner: ProjectionRunner, scope: str | None = None,
               filters: dict[str, str | None] | None = None,
               officer: str | None = None, after: str | None = None,
               limit: int | None = None) -> list[dict[str, Any]]:
    """The supervision board's cases, filtered by scope, team, stage, state, item, officer,
    in case-id order: all of them, or `limit` after the case id `after` (keyset)."""
    runner.ready(["board"])
    board = views_of(runner).board
    table = board.table
    query = _board_where(sa.select(*(table.c[name] for name in board.LISTED)), table, scope,
                         filters, officer)
    if after is not None:
        query = query.where(table.c.case_id > after)
    query = query.order_by(table.c.case_id)
    if limit is not None:
        query = query.limit(limit)
    with runner.store.read() as conn:
        return [{str(k): v for k, v in r._mapping.items()} for r in conn.execute(query)]


def board_total(runner: ProjectionRunner, scope: str | None = None,
                filters: dict[str, str | None] | None = None, officer: str | None = None
                ) -> int:
    """How many cases the board's filters select (the views caught up by the read)."""
    table = views_of(runner).board.table
    query = _board_where(sa.select(sa.func.count()).select_from(table), table, scope, filters,
                         officer)
    with runner.store.read() as conn:
        return int(conn.execute(query).scalar() or 0)


def _board_where(query: Any, table: sa.Table, scope: str | None,
                 filters: dict[str, str | None] | None, officer: str | None) -> Any:
    c = table.c
    for column, value in (filters or {}).items():
        if value is not None:
            query = query.where(c[column] == value)
    if scope:
        query = query.where(c.jurisdiction.like(f"{scope}%"))
    if officer:  # one of the comma-separated ids, exactly
        query = query.where(("," + c.officers + ",").like(f"%,{_like_escaped(officer)},%",
                                                            escape="\\"))
    return query


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def board_counts(runner: ProjectionRunner, scope: str | None,
                 filters: dict[str, str | None] | None, officer: str | None, by: str,
                 moment: datetime | None = None) -> dict[str, int]:
    """The board's cases counted by one of `BOARD_GROUPS` ("" for none), counted in SQL: the
    city's 300,000 rows are never read into Python for a count. With `moment`: the cases
    recorded as occurring by then, by their district, team or stage at that instant (the
    board's spans; `by` and the filters among `BOARD_GROUPS_AS_OF`, no officer)."""
    runner.ready(["board"])
    board = views_of(runner).board
    if moment is None:
        table = board.table
        column = table.c[by]
        query = _board_where(sa.select(column, sa.func.count()).select_from(table), table,
                             scope, filters, officer).group_by(column)
    else:
        at, c = moment.timestamp(), board.spans.c
        column = c[by]
        query = _board_where(
            sa.select(column, sa.func.count()).where(
                c.from_epoch <= at, sa.or_(c.to_epoch.is_(None), c.to_epoch > at)),
            board.spans, scope, filters, None).group_by(column)
    counts: dict[str, int] = {}
    with runner.store.read() as conn:
        for value, n in conn.execute(query):
            key = str(value or "")
            counts[key] = counts.get(key, 0) + int(n)
    return dict(sorted(counts.items()))


def response_of(runner: ProjectionRunner, scope: str | None = None,
                moment: datetime | None = None) -> list[dict[str, Any]]:
    """1315 response shares per team and district (districts inside the scope), as of
    `moment` if given (clues dispatched by then, steps taken by then)."""
    runner.ready(["response"])
    with runner.store.read() as conn:
        # Rows are per district: a narrower scope (a street) covers none of them.
        return response_shares(conn, views_of(runner).response.table, moment, scope)


def statistics_of(runner: ProjectionRunner, scope: str | None = None,
                  moment: datetime | None = None) -> dict[str, Any]:
    """Filed / decided / closed / referred per team, district and month, the first case
    filed under each item (首案突破), and the deadlines met late per team, month and code
    (违限, for 执法质效), for the districts inside the scope. With `moment` (截至时间): the
    months up to its own (that month counted whole: the view keeps months, not instants)
    and the breaches met before it."""
    runner.ready(["statistics", "board"])
    views = views_of(runner)
    counts, first = views.statistics.counts, views.statistics.first
    board = views.board.table
    months: list[sa.ColumnElement[bool]] = [counts.c.district.like(f"{scope or ''}%")]
    if moment is not None:
        months.append(counts.c.month <= moment.astimezone(SHANGHAI).strftime("%Y-%m"))
    with runner.store.read() as conn:
        rows = conn.execute(sa.select(counts).where(*months)
                            .order_by(counts.c.month, counts.c.team, counts.c.district,
                                      counts.c.metric)).all()
        # A first case outside the scope is not named to a reader confined to it.
        firsts = conn.execute(sa.select(first).join(board, board.c.case_id == first.c.case_id)
                              .where(board.c.jurisdiction.like(f"{scope or ''}%"))
                              .order_by(first.c.item_code)).all()
    return {"counts": [dict(r._mapping) for r in rows],
            "first_cases": [dict(r._mapping) for r in firsts],
            "breaches": breach_counts(runner, scope, moment),
            "until_month": None if moment is None
            else moment.astimezone(SHANGHAI).strftime("%Y-%m")}


#: What a scoped answer says in place of a case of another jurisdiction that the law needs
#: (an earlier act added to a threshold, an earlier fine of the same act).
OUTSIDE_CASE = "辖区外案件"


def without_outside_cases(runner: ProjectionRunner, body: Any, scope: str) -> Any:
    """`body` (JSON-ready) with every case id of another jurisdiction that it names beside
    its own cases (`added_from`, `first_case_id`, `inspection_cases`, and their mention in a
    detail) replaced by "辖区外案件": the fact stays, the case, its place and its id do not
    (docs/contract.md: reads across cases stay inside the scope). Of a list, only the items
    naming such a case are rewritten, and only for the ids they name."""
    if not scope:
        return body
    items = body if isinstance(body, list) else [body]
    named = [_named_cases(item) for item in items]
    every = set().union(*named)
    if not every:
        return body
    held = case_jurisdictions(runner, every)
    outside = {case_id for case_id in every if not held.get(case_id, "").startswith(scope)}
    if not outside:
        return body
    shown = [_replaced(item, sorted(ids & outside, key=len, reverse=True)) if ids & outside
             else item for item, ids in zip(items, named, strict=True)]
    return shown if isinstance(body, list) else shown[0]


def case_jurisdictions(runner: ProjectionRunner, case_ids: set[str]) -> dict[str, str]:
    """Each recorded case's jurisdiction, from the board view (one row a case, caught up)."""
    runner.ready(["board"])
    board = views_of(runner).board.table
    held: dict[str, str] = {}
    with runner.store.read() as conn:
        for condition in one_of(conn, board.c.case_id, sorted(case_ids)):
            held.update((str(row[0]), str(row[1])) for row in conn.execute(
                sa.select(board.c.case_id, board.c.jurisdiction).where(condition)))
    return held


def _named_cases(body: Any) -> set[str]:
    if isinstance(body, list):
        return set().union(*(_named_cases(item) for item in body)) if body else set()
    if not isinstance(body, dict):
        return set()
    found = {body["first_case_id"]} if isinstance(body.get("first_case_id"), str) else set()
    for listed in (body.get("added_from"), body.get("inspection_cases")):
        if isinstance(listed, list):
            found |= {case_id for case_id in listed if isinstance(case_id, str)}
    for value in body.values():
        if isinstance(value, (dict, list)):
            found |= _named_cases(value)
    return found


def _replaced(body: Any, outside: list[str]) -> Any:
    if isinstance(body, list):
        return [_replaced(item, outside) for item in body]
    if isinstance(body, dict):
        return {key: _replaced(value, outside) for key, value in body.items()}
    if isinstance(body, str):
        for case_id in outside:
            if case_id in body:
                body = body.replace(case_id, OUTSIDE_CASE)
    return body
