"""The supervision board and the 1315 response view, as a supervisor queries them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from casechain.application.queries import response_of
from casechain.bootstrap import open_case_log, open_projections
from casechain.entrypoints.cli.main import app
from tests.factories import OFFICERS, write_log
from tests.helpers import at
from tests.stories import Story

runner = CliRunner()



def imported(tmp_path: Path, *stories: Story) -> str:
    db = str(tmp_path / "board.db")
    events = [e for story in stories for e in story.events]
    result = runner.invoke(app, ["import", str(write_log(tmp_path / "l.jsonl", events)),
                                 "--db", db])
    assert result.exit_code == 0, result.output
    return db


def test_the_board_lists_and_counts_cases_by_stage_team_and_officer(tmp_path: Path) -> None:
    """Filters narrow the list; --count-by counts; an officer finds the cases naming them."""
    filed = Story("HZ-B1").filed(item="330217001")
    decided = Story("HZ-B2").prepared(item="330221005")
    decided.decide(fine=20000)
    other_officers = [{"id": "O9001", "cert_no": "33019000001"},
                      {"id": "O9002", "cert_no": "33019000002"}]
    elsewhere = Story("HZ-B3").filed(item="330217001", officers=other_officers)
    db = imported(tmp_path, filed, decided, elsewhere)
    listed = json.loads(runner.invoke(app, ["board", "--db", db, "--stage", "penalty",
                                            "--state", "decided", "--json"]).stdout)
    assert [r["case_id"] for r in listed] == ["HZ-B2"]
    assert listed[0]["team"] == "市场监管"
    by_team = json.loads(runner.invoke(app, ["board", "--db", db, "--count-by", "team",
                                             "--json"]).stdout)
    assert by_team == {"市场监管": 1, "综合执法": 2}
    mine = json.loads(runner.invoke(app, ["board", "--db", db, "--officer", OFFICERS[0]["id"],
                                          "--json"]).stdout)
    assert sorted(r["case_id"] for r in mine) == ["HZ-B1", "HZ-B2"]


def urgent(case_id: str, team: str, ack: int, depart: int, arrive: int) -> Story:
    story = Story(case_id, start=at("2025-09-01T09:00:00"))
    story.add("supervision.clue_registered", at=at("2025-09-01T09:00:00"), urgent=True)
    story.add("supervision.dispatched", at=at("2025-09-01T09:01:00"), team=team)
    story.add("supervision.acknowledged", at=at(f"2025-09-01T09:01:{ack:02d}"))
    story.add("supervision.departed", at=at(f"2025-09-01T09:0{1 + depart // 60}:{depart % 60:02d}"))
    story.add("supervision.arrived", at=at(f"2025-09-01T09:{1 + arrive // 60:02d}:"
                                           f"{arrive % 60:02d}"))
    return story


def test_1315_shares_per_team_and_district(tmp_path: Path) -> None:
    """Two urgent clues of one team: one met every step, the other arrived after 16 minutes:
    shares 100% / 100% / 50% (Hangzhou 1315)."""
    db = imported(tmp_path, urgent("HZ-U1", "西湖中队", 30, 120, 600),
                  urgent("HZ-U2", "西湖中队", 50, 170, 960))
    shares = json.loads(runner.invoke(app, ["response", "--db", db, "--json"]).stdout)
    assert shares == [{"team": "西湖中队", "district": "330106", "urgent_clues": 2,
                       "acknowledged_within_1_min": 1.0, "departed_within_3_min": 1.0,
                       "arrived_within_15_min": 0.5}]


def test_1315_shares_as_of_an_instant_count_only_steps_taken_by_then(store_url: str) -> None:
    """As of 截至时间 a step taken later is not taken yet (a clue acknowledged 30 s after
    dispatch counts from that second on, not one second before) and a clue dispatched later
    is not counted at all; on SQLite and on PostgreSQL alike (the shares are counted in SQL)."""
    late = Story("HZ-U3", start=at("2025-09-01T09:59:00"))
    late.add("supervision.clue_registered", at=at("2025-09-01T09:59:00"), urgent=True)
    late.add("supervision.dispatched", at=at("2025-09-01T10:00:00"), team="滨江中队")
    late.add("supervision.acknowledged", at=at("2025-09-01T10:00:10"))
    stories = [urgent("HZ-U1", "西湖中队", 30, 120, 600),
               urgent("HZ-U2", "西湖中队", 50, 170, 960), late]
    case_log = open_case_log(store_url)
    try:
        outcomes = case_log.append_many([e for story in stories for e in story.events])
        assert {o.status for o in outcomes} == {"appended"}
        views = open_projections(case_log)

        def shares(instant: str) -> list[tuple[str, int, float, float, float]]:
            return [(row["team"], row["urgent_clues"], row["acknowledged_within_1_min"],
                     row["departed_within_3_min"], row["arrived_within_15_min"])
                    for row in response_of(views, "3301", at(instant))]

        assert shares("2025-09-01T09:00:59") == []  # nothing dispatched yet
        assert shares("2025-09-01T09:01:29") == [("西湖中队", 2, 0.0, 0.0, 0.0)]
        assert shares("2025-09-01T09:01:30") == [("西湖中队", 2, 0.5, 0.0, 0.0)]
        assert shares("2025-09-01T09:05:00") == [("西湖中队", 2, 1.0, 1.0, 0.0)]
        assert shares("2025-09-01T09:20:00") == [("西湖中队", 2, 1.0, 1.0, 0.5)]
        assert shares("2025-09-01T10:00:10") == [("滨江中队", 1, 1.0, 0.0, 0.0),
                                                 ("西湖中队", 2, 1.0, 1.0, 0.5)]
        assert response_of(views, "330108", at("2025-09-01T10:00:10")) == []  # another district
        assert response_of(views, "330106001", at("2025-09-01T10:00:10")) == []  # a street
    finally:
        case_log.close()
