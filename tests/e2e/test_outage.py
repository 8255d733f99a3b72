"""The database going away and coming back: `serve` answers 503 STORE_UNAVAILABLE meanwhile
and its follower carries on afterwards; `projections run` waits and resumes. Real processes,
a real PostgreSQL database that refuses connections for a while."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx2 as httpx
import pytest

from casechain.bootstrap import open_case_log, open_projections
from tests.factories import case_walk
from tests.helpers import wait_for
from tests.kafka_broker import free_port
from tests.pg import outage
from tests.serving import CASECHAIN, issue, start_server


def _ready(base: str) -> bool:
    try:
        answer = httpx.get(f"{base}/readyz")
    except httpx.TransportError:
        return False
    return answer.status_code == 200 and not any(
        view["lag"] for view in answer.json()["views"].values())


@pytest.mark.slow
def test_serve_answers_503_while_the_store_is_down_and_follows_again_after(
        tmp_path: Path, pg_url: str) -> None:
    tokens = tmp_path / "tokens.yaml"
    auth = {"Authorization": f"Bearer {issue(tokens, 'ops', 'admin', '3301')}"}
    said = tmp_path / "serve.log"
    with said.open("wb") as stderr:
        server, base = start_server(pg_url, tokens, stderr=stderr)
    try:
        assert wait_for(lambda: _ready(base), 60)
        first, second = case_walk("HZ-O1"), case_walk("HZ-O2")
        assert httpx.post(f"{base}/v1/events/batch", json=first, headers=auth).status_code == 200
        with outage(pg_url):
            ready = httpx.get(f"{base}/readyz")
            alerts = httpx.get(f"{base}/v1/alerts", headers=auth)
            refused = httpx.post(f"{base}/v1/events", json=second[0], headers=auth)
            # the follower (every second) meets the outage too, and says so
            assert wait_for(lambda: b"follow.failed" in said.read_bytes(), 30)
        # back: the refused event goes in now, and the follower brings the views up to it
        assert httpx.post(f"{base}/v1/events/batch", json=second, headers=auth
                          ).status_code == 200
        assert wait_for(lambda: _ready(base), 60)
        case = httpx.get(f"{base}/v1/cases/HZ-O2", headers=auth)
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)  # stdout read and closed; stderr went to the file
    stderr = said.read_bytes()
    assert (ready.status_code, ready.json()["store"]) == (503, "unreachable")
    assert (alerts.status_code, alerts.json()["code"]) == (503, "STORE_UNAVAILABLE")
    assert alerts.headers["content-type"].startswith("application/problem+json")
    assert (refused.status_code, refused.json()["code"]) == (503, "STORE_UNAVAILABLE")
    assert case.status_code == 200 and len(case.json()["timeline"]) == len(second)
    assert b"follow.failed" in stderr
    assert b"Traceback" not in stderr


@pytest.mark.slow
def test_a_projection_worker_waits_out_an_outage_and_resumes(pg_url: str,
                                                            tmp_path: Path) -> None:
    log = open_case_log(pg_url)
    said = tmp_path / "worker.log"
    with said.open("wb") as stderr:
        worker = subprocess.Popen([CASECHAIN, "projections", "run", "--db", pg_url,
                                   "--interval", "0.1"], stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        runner = open_projections(log)
        assert all(o.status == "appended" for o in log.append_many(case_walk("HZ-W1")))
        assert wait_for(lambda: not any(s.lag for s in runner.status()), 60)
        with outage(pg_url):  # until the worker has met it and said so
            assert wait_for(lambda: b"projections.store_unavailable" in said.read_bytes(), 30)
        appended = [o.status for o in log.append_many(case_walk("HZ-W2"))]
        assert wait_for(lambda: not any(s.lag for s in runner.status()), 60)
        still_running = worker.poll() is None
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
        log.close()
    stderr = said.read_bytes()
    assert appended == ["appended"] * 18
    assert still_running
    assert b"projections.store_unavailable" in stderr
    assert b"Traceback" not in stderr


def test_a_command_against_an_unreachable_store_says_so_in_one_line() -> None:
    """No server on the port: one line naming the failure, exit status 2, no traceback."""
    done = subprocess.run([CASECHAIN, "alerts", "--db",
                           f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith("error: the event store failed (OperationalError): ")
    assert "Connection refused" in done.stderr
    assert "Traceback" not in done.stderr
