"""The alert summary counts by team without joining the board: each deadline clock and each
finding carries its case's team, and that team is the one the board shows — the team of the
last catalogue item an event named (`RulePack.team_after`), also when the item was named
before any clock ran (a permit granted, then a 12345 complaint in the same case) and when
a later filing names an item of another team. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from casechain.application import supervision
from casechain.application.case_log import CaseLog
from casechain.bootstrap import open_projections
from casechain.projections.machinery import ProjectionRunner
from tests.factories import envelope

#: 330217001 is the comprehensive team's (综合执法), 330221001 market regulation's (市场监管),
#: in the bundled pack's catalogue.
COMPREHENSIVE, MARKET = "330217001", "330221001"


def _teams_counted(runner: ProjectionRunner, moment: datetime) -> dict[str | None, int]:
    """The running deadlines (green ones too) as the summary counts them, by team."""
    counted: dict[str | None, int] = {}
    for row in supervision.deadline_summary(runner, moment, None)["counts"]:
        counted[row["team"]] = counted.get(row["team"], 0) + row["count"]
    return counted


def _board_team(runner: ProjectionRunner, case_id: str) -> Any:
    rows = supervision.board(runner, None, {})
    assert isinstance(rows, list)
    return next(row["team"] for row in rows if row["case_id"] == case_id)


def _at(day: int, hour: int = 10) -> str:
    return f"2025-03-{day:02d}T{hour:02d}:00:00+08:00"


def test_a_clock_carries_the_team_its_case_shows_on_the_board(case_log: CaseLog) -> None:
    runner = open_projections(case_log, page=2)
    case = "HZ-2025-TEAM001"
    granted = envelope("approval.granted", case, occurred_at=_at(3))
    granted["payload"]["item_code"] = COMPREHENSIVE
    first = [granted,
             envelope("approval.pushed_to_supervision", case, occurred_at=_at(4)),
             # an urgent 12345 complaint, dispatched: the 1315 response clocks start, and no
             # event of the complaint names an item
             envelope("supervision.clue_registered", case, occurred_at=_at(5)),
             envelope("supervision.dispatched", case,
                      occurred_at="2025-03-05T10:02:00+08:00")]
    assert {o.status for o in case_log.append_many(first)} == {"appended"}
    runner.catch_up()
    moment = datetime.fromisoformat("2025-03-05T10:05:00+08:00")
    assert _board_team(runner, case) == "综合执法"
    counted = _teams_counted(runner, moment)
    assert counted and set(counted) == {"综合执法"}, counted  # the permit's item, not None

    filed = envelope("penalty.case_filed", case, occurred_at=_at(6))
    filed["payload"]["item_code"] = MARKET
    second = [envelope("supervision.acknowledged", case, occurred_at=_at(5, 11)), filed]
    assert {o.status for o in case_log.append_many(second)} == {"appended"}
    runner.catch_up()
    assert _board_team(runner, case) == "市场监管"
    # as of the day of the complaint again: the same clocks, now counted as the team the
    # case stands in (the board's), as the summary has always counted them
    assert set(_teams_counted(runner, moment)) == {"市场监管"}
    later = _teams_counted(runner, datetime.fromisoformat(_at(6, 12)))
    assert set(later) == {"市场监管"} and sum(later.values()) >= 1  # DECISION runs

    # the view rebuilt from the log keeps the same teams
    runner.rebuild(["deadlines"])
    assert set(_teams_counted(runner, moment)) == {"市场监管"}
