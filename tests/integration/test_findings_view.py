"""The cross-case findings as a maintained view (their spans) answer as the checks do: over
shuffled, interleaved logs caught up a few events at a time (a late event of an older case
changing a newer case's finding), at every instant where an answer may change and one second
either side, city-wide and inside a district — on SQLite and on PostgreSQL. The checks of
`casechain.domain.crosscase`, evaluated from all the rows at the instant, are the oracle."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casechain.application.queries import cross_case_alerts, referral_rows
from casechain.bootstrap import open_case_log, open_projections, recorder_of
from casechain.projections.views import views_of
from tests.crosscase_stories import at
from tests.integration.test_crosscase_order import STORIES, _arrange

SCOPES = (None, "330106", "330108")


def _key(rows: list[dict[str, Any]]) -> list[bytes]:
    return sorted(orjson.dumps(row, option=orjson.OPT_SORT_KEYS) for row in rows)


def _instants(conn: Any, view: Any) -> list[datetime]:
    """Every instant of the facts and of the 应移未移 due dates, and one second either side."""
    checks = view.checks(conn, at("2030-01-01T00:00:00"))
    marks: set[datetime] = set()
    for case in checks.cases.values():
        marks |= {t for t in (case.concluded_at, *case.referral.values()) if t is not None}
    marks |= {d.decided_at for d in checks.facts.decisions}
    marks |= {i.at for i in checks.facts.inspections}
    marks |= {c.clock.base_due for c in checks.findings.referral_clocks()}
    return sorted({m + timedelta(seconds=s) for m in marks for s in (-1, 0, 1)})


def _compare(url: str, events: list[dict[str, Any]], chunk: int) -> int:
    """Append `chunk` events at a time, the views caught up (pages of 3) after each; then
    compare the view with the checks at every instant and scope. The comparisons made."""
    case_log = open_case_log(url)
    try:
        runner = open_projections(case_log, page=3)
        for start in range(0, len(events), chunk):
            part = events[start:start + chunk]
            assert {o.status for o in case_log.append_many(part)} == {"appended"}
            runner.catch_up()
        view = views_of(runner).crosscase
        compared = 0
        with recorder_of(case_log).read() as conn:
            instants = _instants(conn, view)
            for moment in instants:
                for scope in SCOPES:
                    checks = view.checks(conn, moment, scope=scope)
                    oracle = [a for a in checks.alerts()
                              if not scope or a["jurisdiction"].startswith(scope)]
                    assert _key(cross_case_alerts(runner, moment, scope)) == _key(oracle), (
                        moment, scope)
                    assert (referral_rows(runner, moment, scope) == checks.referrals(scope)), (
                        moment, scope)
                    compared += 1
        return compared
    finally:
        case_log.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_the_view_answers_as_the_checks_do_in_arrival_order(fresh_store: Any, backend: str) -> None:
    """The reference order, a few events at a time: every alert code the stories were built
    for is among the answers compared."""
    events = [e for s in STORIES for e in s.events]
    assert _compare(fresh_store(backend), events, 7) > 100


@pytest.mark.slow
@pytest.mark.postgres  # some examples run on PostgreSQL
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(len(STORIES))), seed=st.integers(0, 2**32 - 1),
       chunk=st.integers(1, 40), backend=st.sampled_from(["sqlite", "postgres"]))
def test_the_view_answers_as_the_checks_do_in_any_order(fresh_store: Any, order: list[int],
                                                         seed: int, chunk: int,
                                                         backend: str) -> None:
    """Any order of cases, any interleaving, any size of the appends between catch-ups."""
    _compare(fresh_store(backend), _arrange(order, seed), chunk)
