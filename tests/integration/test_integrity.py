"""Integrity gaps an administrator could use (issue: hostile insiders): the server signs
checkpoints itself, each checkpoint signs the access log's head, and `projections verify`
names a view whose rows were edited in SQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from casechain.adapters import codec
from casechain.adapters.ledger import AutoCheckpoint, generate_key
from casechain.adapters.tokens import issue_token
from casechain.application.serving import Components
from casechain.bootstrap import open_case_log, open_projections, open_service
from casechain.domain.hashing import record_hash
from casechain.entrypoints.cli.main import app
from casechain.entrypoints.http.app import create_app
from tests.factories import case_walk
from tests.helpers import wait_for
from tests.pg import run_sql

runner = CliRunner()


def _verify(url: str, public: Path) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["verify", "--db", url, "--public-key", str(public), "--json"])
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def served(store_url: str, tmp_path: Path) -> Iterator[tuple[str, Path, Components, TestClient,
                                                              str]]:
    """A running API whose follower signs a checkpoint every 5 events, with one case read
    by a supervisor (so the access log has an entry)."""
    private, public = tmp_path / "k.pem", tmp_path / "k.pub"
    key = generate_key(private, public)
    tokens = tmp_path / "tokens.yaml"
    service = issue_token(tokens, "svc", ["service"], "330106", None)
    supervisor = issue_token(tokens, "sup", ["supervisor"], "330106", None)
    case_log = open_case_log(store_url)
    components = open_service(case_log, open_projections(case_log), tokens,
                              follow_interval=0.05)
    components.checkpoints = AutoCheckpoint(components.ledger, key, every_seconds=3600,
                                            every_events=5)
    try:
        with TestClient(create_app(components)) as client:
            posted = client.post("/v1/events/batch", json=case_walk("HZ-A"),
                                 headers={"Authorization": f"Bearer {service}"})
            assert posted.json()["appended"] == 18
            read = client.get("/v1/cases/HZ-A", headers={"Authorization": f"Bearer {supervisor}"})
            assert read.status_code == 200
            assert wait_for(lambda: _latest(components, "tree_size") == 18, 10)
            client.post("/v1/events/batch", json=case_walk("HZ-B")[:6],
                        headers={"Authorization": f"Bearer {service}"})
            assert wait_for(lambda: _latest(components, "tree_size") == 24
                            and _latest(components, "access_size") == 1, 10)
            yield store_url, public, components, client, supervisor
    finally:
        case_log.close()


def _latest(components: Components, name: str) -> Any:
    """A field of the latest checkpoint (None before the first)."""
    return getattr(components.ledger.latest_checkpoint(), name, None)


@pytest.mark.postgres
def test_serve_signs_checkpoints_itself_and_a_rewritten_event_then_fails_verify(
        served: Any) -> None:
    """With a key, the server signs checkpoints as events arrive (here every 5); a case's
    last event rewritten afterwards with its hash recomputed — which `verify` called intact
    when the server never made checkpoints — is named."""
    url, public, _, _, _ = served
    before, _ = _verify(url, public)
    (row,) = run_sql(url, "SELECT state FROM casechain_events WHERE position = 24")
    record = codec.decode_record(bytes(row.state))
    forged = {k: v for k, v in record.items() if k != "hash"}
    forged["payload"] = {**forged["payload"], "reason": "无违法行为"}
    forged["hash"], _ = record_hash(forged)
    run_sql(url, "UPDATE casechain_events SET state = :s WHERE position = 24",
         s=codec.encode(forged, forged["recorded_at"]).state)
    code, report = _verify(url, public)
    assert before == 0
    assert code == 1
    assert {p["what"] for p in report["problems"]} & {"leaf", "checkpoint root"}


@pytest.mark.postgres
@pytest.mark.parametrize("attack", ["trim", "rechain", "edit"])
def test_an_access_log_trimmed_or_rechained_fails_verify(served: Any, attack: str) -> None:
    """The checkpoint signs the access log's head: deleting its tail, editing an entry, or
    editing and recomputing the whole chain is named by `verify`."""
    url, public, _, _, _ = served
    if attack == "trim":
        run_sql(url, "DELETE FROM casechain_access_log WHERE seq = 1")
    else:
        run_sql(url, "UPDATE casechain_access_log SET principal = 'nobody' WHERE seq = 1")
    if attack == "rechain":
        from casechain.adapters.access_log import GENESIS, entry_hash
        (row,) = run_sql(url, "SELECT * FROM casechain_access_log WHERE seq = 1")
        entry = {k: getattr(row, k) for k in ("at", "principal", "roles", "action", "resource")}
        run_sql(url, "UPDATE casechain_access_log SET hash = :h WHERE seq = 1",
             h=entry_hash(GENESIS, 1, entry))
    code, report = _verify(url, public)
    assert code == 1
    assert "access log" in {p["what"] for p in report["problems"]}


@pytest.mark.postgres
def test_projections_verify_names_a_view_whose_rows_were_edited(served: Any) -> None:
    """Deleting an alert's clock row hid it while `verify` and `projections status` looked
    normal; `projections verify` recomputes the views from the log and names the view."""
    url, _, components, _, _ = served
    clean = runner.invoke(app, ["projections", "verify", "--db", url, "--json"])
    components.follow_interval = 3600
    run_sql(url, "DELETE FROM casechain_view_clocks WHERE case_id = 'HZ-B'")
    run_sql(url, "UPDATE casechain_view_board SET stage = 'evaluation' WHERE case_id = 'HZ-B'")
    edited = runner.invoke(app, ["projections", "verify", "--db", url, "--json"])
    assert clean.exit_code == 0, clean.output
    assert json.loads(clean.stdout)["intact"] is True
    assert edited.exit_code == 1
    assert json.loads(edited.stdout)["differing"] == ["board", "deadlines"]


def test_auto_checkpoints_wait_for_something_new(sqlite_url: str, tmp_path: Path) -> None:
    """No new event and no new access-log entry: no checkpoint, whatever the time."""
    key = generate_key(tmp_path / "k.pem", tmp_path / "k.pub")
    case_log = open_case_log(sqlite_url)
    try:
        now = [0.0]
        components = open_service(case_log, open_projections(case_log), _token_file(tmp_path))
        auto = AutoCheckpoint(components.ledger, key, every_seconds=60, every_events=1000,
                              clock=lambda: now[0])
        list(case_log.append_many(case_walk("HZ-C")))
        early = auto.maybe()
        now[0] = 61
        due = auto.maybe()
        now[0] = 200
        idle = auto.maybe()
    finally:
        case_log.close()
    assert early is None
    assert due is not None and due.tree_size == 18
    assert idle is None


def _token_file(folder: Path) -> Path:
    path = folder / "t.yaml"
    issue_token(path, "x", ["admin"], "", None)
    return path

