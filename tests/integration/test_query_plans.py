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
    run a dozen times on one connection were never given a generic plan."""
    case_log = _store(pg_url)
    try:
        runner = open_projections(case_log)
        with runner.store.one_connection():
            for scope in ["3301"] * 8 + ["330106"] * 4:
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
            conn.execute(sa.update(clocks).where(c.case_id == late[0].case_id, c.instant)
                         .values(stopped_epoch=late[0].started_epoch + 86_400))
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
                armed = sorted(row for arm in running_arms(c, at) for row in conn.execute(
                    sa.select(c.case_id, c.code, c.part).where(arm)).all())
                assert armed == expected, at
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
