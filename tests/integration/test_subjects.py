"""A subject's earlier decisions across cases, judged by business time (APL Art. 33 para 1)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casechain.bootstrap import open_case_log
from casechain.domain.subjects import is_first_offence
from casechain.entrypoints.cli.main import app
from tests.stories import SH, Story

runner = CliRunner()


def two_cases() -> tuple[Story, Story]:
    """The same subject and item: an act in January 2025, another in June 2025."""
    older = Story("HZ-OLD", start=datetime(2025, 2, 1, 10, tzinfo=SH)).prepared(
        act_date="2025-01-10")
    older.decide()
    newer = Story("HZ-NEW", start=datetime(2025, 7, 1, 10, tzinfo=SH)).prepared(
        act_date="2025-06-01")
    newer.decide()
    return older, newer


@pytest.mark.parametrize("order", ["old-first", "new-first"])
def test_first_offence_does_not_depend_on_arrival_order(store_url: str, order: str) -> None:
    """Importing the later case first (a late import of an older case) gives the same answer:
    the January act is the first offence, the June act is not."""
    older, newer = two_cases()
    events = older.events + newer.events if order == "old-first" else newer.events + older.events
    log = open_case_log(store_url)
    try:
        assert {o.status for o in log.append_many(events)} == {"appended"}
        decisions = log.subject_decisions(older.events[0]["payload"]["subject"]["id"])
    finally:
        log.close()
    assert len(decisions) == 2
    assert is_first_offence(decisions, item_code="330217001", act_date=date(2025, 1, 10),
                            case_id="HZ-OLD")
    assert not is_first_offence(decisions, item_code="330217001", act_date=date(2025, 6, 1),
                                case_id="HZ-NEW")


def test_case_show_tells_whether_the_case_is_a_first_offence(tmp_path: Path) -> None:
    """case show --json carries first_offence and the earlier penalties it rests on."""
    older, newer = two_cases()
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n"
                           for e in newer.events + older.events), encoding="utf-8")
    db = str(tmp_path / "s.db")
    assert runner.invoke(app, ["import", str(log), "--db", db]).exit_code == 0
    new_view = json.loads(runner.invoke(app, ["case", "show", "HZ-NEW", "--db", db,
                                              "--json"]).stdout)
    old_view = json.loads(runner.invoke(app, ["case", "show", "HZ-OLD", "--db", db,
                                              "--json"]).stdout)
    assert new_view["subject"]["first_offence"] is False
    assert [e["case_id"] for e in new_view["subject"]["earlier_penalties"]] == ["HZ-OLD"]
    assert old_view["subject"]["first_offence"] is True
