"""One request's reads on one connection (`CaseChainRecorder.one_connection`): a case read
checks a PostgreSQL connection out once instead of a dozen times, and still sees everything
committed before each of its reads, as separate read-committed transactions would."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from casechain.adapters.tokens import issue_token
from casechain.bootstrap import open_case_log, open_projections, open_service, recorder_of
from casechain.entrypoints.http.app import create_app
from tests.factories import case_walk


def test_reads_in_one_block_share_a_connection_and_see_what_commits_meanwhile(
        store_url: str) -> None:
    """Inside the block PostgreSQL's reads take one connection between them (none of their
    own) and a read after another connection's append sees it; SQLite's reads keep a
    transaction each (a read transaction there keeps its first snapshot)."""
    case_log = open_case_log(store_url)
    recorder = recorder_of(case_log)
    walk = case_walk("HZ-SHARED-1")
    try:
        assert {o.status for o in case_log.append_many(walk[:3])} == {"appended"}
        checkouts: list[object] = []
        sa.event.listen(recorder.engine.pool, "checkout", lambda *_: checkouts.append(1))
        with recorder.one_connection():
            first = len(checkouts)
            before = case_log.case_records("HZ-SHARED-1")
            held = case_log.jurisdictions(["HZ-SHARED-1"])
            reads = len(checkouts) - first
            appended = list(case_log.append_many(walk[3:6]))  # its own write connection
            after = case_log.case_records("HZ-SHARED-1")
        assert {o.status for o in appended} == {"appended"}
        assert [r["seq"] for r in before] == [1, 2, 3]
        assert [r["seq"] for r in after] == [1, 2, 3, 4, 5, 6]
        assert held == {"HZ-SHARED-1": walk[0]["jurisdiction"]}
        if recorder.is_postgres:
            assert first == 1 and reads == 0  # the block's one connection, nothing more
        else:
            assert first == 0 and reads == 2  # each read its own transaction
    finally:
        case_log.close()


def test_a_case_read_sees_the_append_before_it_and_is_recorded(store_url: str,
                                                                tmp_path: Path) -> None:
    """Over HTTP, on both databases: a case read right after an append shows the new event,
    its alerts as of now and its chain verified, and the read itself is in the access log."""
    case_log = open_case_log(store_url)
    tokens = tmp_path / "tokens.yaml"
    service = issue_token(tokens, "svc", ["service"], "3301", None)
    supervisor = issue_token(tokens, "city", ["supervisor"], "3301", None)
    components = open_service(case_log, open_projections(case_log), tokens)
    client = TestClient(create_app(components, follow=False))
    walk = case_walk("HZ-SHARED-2")
    try:
        for start, upto in ((0, 4), (4, len(walk))):
            sent = client.post("/v1/events/batch", json=walk[start:upto],
                               headers={"Authorization": f"Bearer {service}"})
            assert sent.status_code in (200, 201, 207), sent.text
            read = client.get("/v1/cases/HZ-SHARED-2",
                              headers={"Authorization": f"Bearer {supervisor}"})
            assert read.status_code == 200, read.text
            body = read.json()
            assert len(body["timeline"]) == upto and body["chain"]["verified"] is True
            assert body["chain"]["events"] == upto
        entries = components.access_log.entries("HZ-SHARED-2")
        assert [(e["principal"], e["action"]) for e in entries] == [("city", "case.read")] * 2
    finally:
        case_log.close()
