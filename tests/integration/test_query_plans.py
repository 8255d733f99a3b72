"""What PostgreSQL reads for a supervisor's page (the city's volume): a district's listing
is planned for its own prefix and instant, and reads what holds at the instant from the
place's index, not every row of the place stopped after it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from casechain.application import supervision
from casechain.application.rule_packs import calendar_of, load_pack
from casechain.application.simulation import simulate
from casechain.bootstrap import open_case_log, open_projections
from casechain.projections.clocks import running_arms
from casechain.projections.machinery import LENGTH_UNIT, LONGEST, length_class
from casechain.projections.views import views_of
from tests.factories import told_in_utc_and_late_notice

AS_OF = datetime.fromisoformat("2025-03-31T18:00:00+08:00")


def _store(url: str) -> Any:
    pack = load_pack(None)
    case_log = open_case_log(url)
    outcomes = list(case_log.append_many(simulate(120, 5, date(2025, 1, 2), 6, pack,
                                                  calendar_of(pack), None)))
    assert {o.status for o in outcomes} == {"appended"}
    return case_log


def test_a_district_page_after_city_pages_is_planned_for_its_own_prefix(pg_url: str) -> None:
    """psycopg prepares a statement run five times on a connection; PostgreSQL would then plan
    it once for any values, and a district's listing asked after the city's kept the city's
    plan (`jurisdiction LIKE $1` read as no prefix: twice as slow on the city's year). Every
    statement on a store connection is planned for its own values: the page statements
    run a dozen times on one connection were never given a generic plan. (A city's page
    and a district's read the clocks by different arms, `running_arms`: a street's page
    after a district's shares the district's statement.)"""
    case_log = _store(pg_url)
    try:
        runner = open_projections(case_log)
        with runner.store.one_connection():
            for scope in ["3301"] * 8 + ["330106"] * 8 + ["330106002"] * 4:
                supervision.alerts_page(runner, AS_OF, scope, limit=50)
            with runner.store.read() as conn:
                assert conn.execute(sa.text("SHOW plan_cache_mode")).scalar() == \
                    "force_custom_plan"
                plans = conn.execute(sa.text(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE statement LIKE '%casechain_view_cc_findings%'")).all()
        assert plans, "the page's statement was prepared (run more than five times)"
        assert sum(generic for generic, _ in plans) == 0
        assert sum(custom for _, custom in plans) >= 6
    finally:
        case_log.close()


def test_the_arms_of_running_clocks_and_holding_spans_split_them_exactly(store_url: str) -> None:
    """A page selects the running clocks and holding spans one arm at a time (so that
    PostgreSQL reads each from an index range); at every instant a clock starts or stops,
    and a second either side, the arms exclude each other and together hold exactly the
    clocks running then (started, not stopped unless breached when set) and the spans
    holding: no alert listed twice, none left out."""
    case_log = _store(store_url)
    try:
        assert {o.status for o in case_log.append_many(told_in_utc_and_late_notice())} == {"appended"}
        runner = open_projections(case_log)
        supervision.alerts_page(runner, AS_OF, None, limit=1)  # the views caught up
        views = views_of(runner)
        clocks, spans = views.deadlines.table, views.crosscase.findings
        c, f = clocks.c, spans.c
        # No event stops a clock breached when set (a hearing noticed too late) today; the
        # third arm is there for `evaluate`'s rule, so one such clock is stopped by hand.
        with runner.store.transaction() as conn:
            late = conn.execute(sa.select(c.case_id, c.started_epoch).where(c.instant)).all()
            assert late, "the story of a hearing noticed too late is in the store"
            stop = late[0].started_epoch + 86_400
            conn.execute(sa.update(clocks).where(c.case_id == late[0].case_id, c.instant)
                         .values(stopped_epoch=stop,
                                 length_class=length_class(late[0].started_epoch, stop)))
        with runner.store.read() as conn:
            edges = {e for row in conn.execute(sa.select(c.started_epoch, c.stopped_epoch))
                     for e in row if e is not None}
            edges |= {e for row in conn.execute(sa.select(f.start_epoch, f.stop_epoch))
                      for e in row if e is not None}
            instants = sorted({e + d for e in sorted(edges)[::5] for d in (-1.0, 0.0, 1.0)})
            assert len(instants) > 100
            for at in instants:
                running = sa.and_(c.started_epoch <= at, sa.or_(
                    c.stopped_epoch.is_(None), c.stopped_epoch > at, c.instant))
                expected = sorted(conn.execute(sa.select(c.case_id, c.code, c.part)
                                               .where(running)).all())
                for by_length in (True, False):
                    armed = sorted(row for arm in running_arms(c, at, by_length)
                                   for row in conn.execute(
                                       sa.select(c.case_id, c.code, c.part).where(arm)).all())
                    assert armed == expected, (at, by_length)
                holding = sa.and_(f.start_epoch <= at, sa.or_(f.stop_epoch.is_(None),
                                                               f.stop_epoch > at))
                expected = sorted(conn.execute(sa.select(f.group_key, f.n)
                                               .where(holding)).all())
                armed = sorted(row for arm in views.crosscase.spans.live_arms(at)
                               for row in conn.execute(sa.select(f.group_key, f.n)
                                                       .where(arm)).all())
                assert armed == expected, at
    finally:
        case_log.close()


def test_clocks_of_every_length_are_found_running_at_each_edge_of_their_class(
        store_url: str) -> None:
    """The city's listings read the clocks stopped after an instant a length class at a time,
    each class as a window of starts before the instant as long as its longest clock. A
    clock exactly as long as its class allows, a second longer or shorter, one stopped
    before it started, one running over two years: at its start and stop, a second either
    side, and where each class's window ends, the arms find exactly the clocks running."""
    case_log = open_case_log(store_url)
    try:
        runner = open_projections(case_log)
        runner.catch_up()
        clocks = views_of(runner).deadlines.table
        c = clocks.c
        start = 1_750_000_000.0
        lengths = [-60.0, 0.0, 1.0, 800 * 86_400.0] + [
            LENGTH_UNIT * 4 ** k + d for k in range(LONGEST + 1) for d in (-1.0, 0.0, 1.0)]
        rows = [{"case_id": f"CASE-{n:03d}", "code": "DECISION_OVERDUE", "part": "",
                 "jurisdiction": "330106001", "started_at": "x", "base_due": "x", "days": 90,
                 "suspended_seconds": 0.0, "fine": 0.0, "instant": False, "urgent": False,
                 "started_epoch": start + n, "stopped_epoch": start + n + length,
                 "base_due_epoch": start + n + 90 * 86_400.0,
                 "length_class": length_class(start + n, start + n + length)}
                for n, length in enumerate(lengths)]
        rows.append(dict(rows[0], case_id="CASE-RUNNING", stopped_epoch=None, length_class=None))
        with runner.store.transaction() as conn:
            conn.execute(sa.insert(clocks), rows)
        assert {r["length_class"] for r in rows} == set(range(LONGEST + 1)) | {None}
        # where a clock starts, stops, and where its class's window (its longest length
        # before the instant) begins at its start
        instants = sorted({edge + d for r in rows for edge in (
            r["started_epoch"], r["stopped_epoch"] or start,
            r["started_epoch"] + LENGTH_UNIT * 4 ** min(r["length_class"] or 0, LONGEST - 1))
            for d in (-1.0, 0.0, 1.0)})
        with runner.store.read() as conn:
            for at in instants:
                expected = sorted(conn.execute(sa.select(c.case_id).where(
                    c.started_epoch <= at, sa.or_(c.stopped_epoch.is_(None),
                                                  c.stopped_epoch > at))).scalars())
                armed = sorted(case_id for arm in running_arms(c, at)
                               for case_id in conn.execute(sa.select(c.case_id).where(arm))
                               .scalars())
                assert armed == expected, at
                assert len(expected) == len(set(expected))
    finally:
        case_log.close()
