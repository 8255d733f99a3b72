"""Deadlines and alerts as of an instant read only the clocks running then (filtered in SQL):
the answers are those of evaluating every clock, at every boundary, on both backends."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

from casechain.adapters.rulepack_files import calendar_of, load_pack
from casechain.application.case_log import CaseLog
from casechain.application.simulation import simulate
from casechain.bootstrap import open_projections, recorder_of
from casechain.domain.deadlines import Clock, evaluate
from casechain.projections import read_clocks
from tests.factories import told_in_utc_and_late_notice


def _key(clock: Clock) -> tuple[str, str, str]:
    return clock.case_id, clock.code, clock.part


def test_clocks_read_as_of_an_instant_are_those_running_then(case_log: CaseLog) -> None:
    """At each clock's start, stop and due instant (and a second and a microsecond either
    side) and at random instants over the year, the clocks read with the instant evaluate
    exactly like all clocks evaluated at it."""
    pack = load_pack()
    events = list(simulate(120, 5, date(2025, 1, 2), 12, pack, calendar_of(pack)))
    outcomes = list(case_log.append_many(events + told_in_utc_and_late_notice()))
    assert {o.status for o in outcomes} == {"appended"}
    runner = open_projections(case_log)
    runner.catch_up(["deadlines"])
    table: Any = runner.views["deadlines"].table  # type: ignore[attr-defined]
    with recorder_of(case_log).read() as conn:
        every = list(read_clocks(conn, table))
        assert {"HZ-UTC", "HZ-LATE-NOTICE"} <= {c.case_id for c in every}
        assert any(c.instant for c in every)
        edges = {moment for c in every for moment in (c.started_at, c.stopped_at, c.base_due)
                 if moment is not None}
        instants = sorted({edge + timedelta(seconds=step) for edge in edges
                           for step in (-1, -1e-6, 0, 1e-6, 1)})
        rng = random.Random(3)
        instants = rng.sample(instants, 400) + [
            datetime.fromisoformat("2025-01-02T00:00:00+08:00") + timedelta(
                seconds=rng.uniform(0, 400 * 86400)) for _ in range(100)]
        skipped = 0
        for moment in instants:
            expected = {_key(c): e for c in every if (e := evaluate(c, moment)) is not None}
            read = list(read_clocks(conn, table, running=moment))
            found = {_key(c): e for c in read if (e := evaluate(c, moment)) is not None}
            assert found == expected, moment
            skipped += len(every) - len(read)
    assert skipped > len(instants) * len(every) / 2  # most clocks are not running at a time
