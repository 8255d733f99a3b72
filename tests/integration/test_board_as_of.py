"""The board as of an instant (截至时间): how many cases were in each stage, team and district
at T is the fold, in the order recorded, of each case's events that occurred by T — the
board's own rule, applied to the log cut at T. The oracle below folds the log directly; the
view keeps spans caught up a few events at a time (pages of 3), with a late event (occurred
before one already recorded) and a transfer to another district among them — on SQLite and
on PostgreSQL, at every instant an answer may change and one second either side."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casechain.adapters.tokens import issue_token
from casechain.application.queries import board_counts
from casechain.bootstrap import open_case_log, open_projections, open_service
from casechain.entrypoints.http.app import create_app
from tests.helpers import interleaved
from tests.stories import SH, Story, _default_pack

GROUPS = ("stage", "team", "district")
SCOPES = (None, "330106", "330108")


def _stories() -> list[Story]:
    """A supervision clue that became a penalty case; a case moved to another district; a
    case whose transfer and evidence were recorded after its filing but occurred before it
    (late events)."""
    clue = Story("HZ-T1")
    clue.add("supervision.clue_registered")
    clue.add("supervision.dispatched", team="市场监管")
    clue.add("supervision.inspected")
    clue.prepared(item="330221005")
    clue.decide(fine=20000)
    moved = Story("HZ-T2", start=datetime(2025, 9, 3, 10, tzinfo=SH)).filed(item="330217001")
    moved.add("case.transferred", to_jurisdiction="330108001", reason="指定管辖")
    moved.jurisdiction = "330108001"
    moved.concluded()
    late = Story("HZ-T3", start=datetime(2025, 9, 2, 9, tzinfo=SH))
    late.add("supervision.clue_registered", at=datetime(2025, 9, 4, 10, tzinfo=SH))
    late.filed(item="330217001", at=datetime(2025, 9, 7, 10, tzinfo=SH))
    late.add("case.transferred", at=datetime(2025, 9, 5, 10, tzinfo=SH),
             to_jurisdiction="330106002", reason="指定管辖")
    late.add("penalty.evidence_collected", at=datetime(2025, 9, 6, 10, tzinfo=SH))
    late.add("penalty.investigation_concluded", at=datetime(2025, 9, 8, 10, tzinfo=SH))
    return [clue, moved, late]


STORIES = _stories()


def _occurred(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["occurred_at"])


def _oracle(events: list[dict[str, Any]], moment: datetime, by: str,
            scope: str | None) -> dict[str, int]:
    """The counts at `moment`, folded from the log directly: per case, of its events that
    occurred by then, in the order recorded — the jurisdiction of the first (or of the last
    transfer), the stage of the last that is neither a referral's nor the case's own (else
    of the first), the team of the last item named."""
    pack = _default_pack()
    cases: dict[str, dict[str, Any]] = {}
    for event in events:
        if _occurred(event) > moment:
            continue
        case = cases.setdefault(event["case_id"], {"jurisdiction": event["jurisdiction"],
                                                   "stage": None, "team": None})
        kind = event["type"].partition(".")[0]
        if event["type"] == "case.transferred":
            case["jurisdiction"] = event["payload"]["to_jurisdiction"]
        if kind not in ("referral", "case") or case["stage"] is None:
            case["stage"] = kind
        if "item_code" in event["payload"]:
            version = pack.at(event["occurred_at"])
            item = version.item(event["payload"]["item_code"]) if version else None
            case["team"] = item.team if item else case["team"]
    counted = Counter(
        (case["jurisdiction"][:6] if by == "district" else case[by]) or ""
        for case in cases.values() if not scope or case["jurisdiction"].startswith(scope))
    return dict(sorted(counted.items()))


def _instants(events: list[dict[str, Any]]) -> list[datetime]:
    marks = {_occurred(e) for e in events}
    return sorted({m + timedelta(seconds=s) for m in marks for s in (-1, 0, 1)})


def _compare(url: str, events: list[dict[str, Any]], chunk: int) -> int:
    """Append `chunk` events at a time, the board caught up (pages of 3) after each; then
    compare its counts with the oracle's at every instant, by every group, in every scope;
    and a rebuild from the log keeps the same rows. The comparisons made."""
    case_log = open_case_log(url)
    try:
        runner = open_projections(case_log, page=3)
        for start in range(0, len(events), chunk):
            outcomes = case_log.append_many(events[start:start + chunk])
            assert {o.status for o in outcomes} == {"appended"}
            runner.catch_up(["board"])
        compared = 0
        for moment in _instants(events):
            for by, scope in itertools.product(GROUPS, SCOPES):
                assert board_counts(runner, scope, {}, None, by, moment) == _oracle(
                    events, moment, by, scope), (moment, by, scope)
                compared += 1
        later = datetime(2030, 1, 1, tzinfo=SH)
        for by in GROUPS:  # once everything has occurred: the board as it stands
            assert board_counts(runner, None, {}, None, by, later) == board_counts(
                runner, None, {}, None, by)
        caught_up = runner.view_digests()["board"]
        runner.rebuild(["board"])
        assert runner.view_digests()["board"] == caught_up
        return compared
    finally:
        case_log.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_the_board_as_of_an_instant_is_the_log_folded_up_to_it(fresh_store: Any,
                                                               backend: str) -> None:
    """The stories one after another, two events at a time: the late events (recorded
    after the filing, occurred before it) count from when they occurred, the transferred case
    in its new district from the transfer on."""
    events = [e for story in STORIES for e in story.events]
    assert _compare(fresh_store(backend), events, 2) > 100
    # the oracle itself, by hand: HZ-T3 was moved to 330106002 on 9-05 (recorded after its
    # filing of 9-07), a clue until its evidence of 9-06 (recorded later still)
    assert _oracle(events, datetime(2025, 9, 5, 12, tzinfo=SH), "stage",
                   "330106002") == {"supervision": 1}
    assert _oracle(events, datetime(2025, 9, 6, 12, tzinfo=SH), "stage",
                   "330106002") == {"penalty": 1}
    assert _oracle(events, datetime(2025, 9, 5, 12, tzinfo=SH), "district",
                   None) == {"330106": 2, "330108": 1}


@pytest.mark.slow
@pytest.mark.postgres  # some examples run on PostgreSQL
@settings(max_examples=5, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), chunk=st.integers(1, 12),
       backend=st.sampled_from(["sqlite", "postgres"]))
def test_the_board_as_of_holds_in_any_interleaving(fresh_store: Any, seed: int, chunk: int,
                                                   backend: str) -> None:
    """Any interleaving of the cases, any size of the appends between catch-ups."""
    _compare(fresh_store(backend), interleaved([story.events for story in STORIES], seed), chunk)


def test_the_board_counts_as_of_over_http_and_refuses_what_it_cannot_answer(
        tmp_path: Path) -> None:
    """`/v1/board?count_by=stage&as_of=…` answers the counts at that instant; a listing or
    a count by state as of an instant is refused naming the parameter (422,
    SCHEMA_INVALID, as every question no answer can be given for)."""
    url = f"sqlite:///{tmp_path / 'http.db'}"
    case_log = open_case_log(url)
    events = [e for story in STORIES for e in story.events]
    assert {o.status for o in case_log.append_many(events)} == {"appended"}
    tokens = tmp_path / "tokens.yaml"
    token = issue_token(tokens, "city", ["supervisor"], "3301", None)
    runner = open_projections(case_log)
    client = TestClient(create_app(open_service(case_log, runner, tokens), follow=False))
    auth = {"Authorization": f"Bearer {token}"}
    try:
        early = client.get("/v1/board", params={"count_by": "stage",
                                                "as_of": "2025-09-02T12:00:00"}, headers=auth)
        assert early.status_code == 200, early.text
        assert early.json() == _oracle(events, datetime(2025, 9, 2, 12, tzinfo=SH), "stage",
                                       None)
        now = client.get("/v1/board", params={"count_by": "stage"}, headers=auth).json()
        assert early.json() != now
        for params, field in (({"as_of": "2025-09-02T12:00:00"}, "as_of"),
                              ({"as_of": "2025-09-02T12:00:00", "count_by": "state"},
                               "count_by"),
                              ({"as_of": "2025-09-02T12:00:00", "count_by": "stage",
                                "item_code": "330217001"}, "item_code")):
            refused = client.get("/v1/board", params=params, headers=auth)
            assert refused.status_code == 422, refused.text
            assert refused.json()["code"] == "SCHEMA_INVALID"
            assert field in refused.json()["detail"] and "截至时间" in refused.json()["detail"]
    finally:
        case_log.close()


def test_the_cli_counts_the_board_as_of_an_instant(tmp_path: Path) -> None:
    """`casechain board --count-by stage --as-of …` prints the counts at that instant; a
    listing as of an instant is refused in one line naming --as-of's parameter (exit 2)."""
    from typer.testing import CliRunner

    from casechain.entrypoints.cli.main import app
    from tests.factories import write_log

    events = [e for story in STORIES for e in story.events]
    db = str(tmp_path / "cli.db")
    cli = CliRunner()
    imported = cli.invoke(app, ["import", str(write_log(tmp_path / "l.jsonl", events)),
                                "--db", db])
    assert imported.exit_code == 0, imported.output
    counted = cli.invoke(app, ["board", "--db", db, "--count-by", "district",
                               "--as-of", "2025-09-05T12:00:00", "--json"])
    assert counted.exit_code == 0, counted.output
    assert json.loads(counted.stdout) == _oracle(events, datetime(2025, 9, 5, 12, tzinfo=SH),
                                                 "district", None) == {"330106": 2,
                                                                       "330108": 1}
    listed = cli.invoke(app, ["board", "--db", db, "--as-of", "2025-09-05T12:00:00"])
    assert listed.exit_code == 2
    assert "as_of" in listed.output and "截至时间" in listed.output
