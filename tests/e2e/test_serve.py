"""`casechain serve` as a real process on loopback: tokens issued by the CLI, HTTP over TCP."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.factories import case_walk
from tests.serving import issue, start_server


@pytest.mark.slow
def test_the_server_takes_a_case_over_http_and_keeps_it_from_another_district(
        tmp_path: Path) -> None:
    """Started by `casechain serve`, the API appends a whole case posted event by event,
    serves it to a supervisor of the district, refuses one of another district, and stops
    cleanly on SIGTERM; the token file holds no token."""
    tokens = tmp_path / "tokens.yaml"
    service = issue(tokens, "approval-system", "service", "3301")
    mine = issue(tokens, "S-330106", "supervisor", "330106")
    theirs = issue(tokens, "S-330105", "supervisor", "330105")
    server, base = start_server(tmp_path / "s.db", tokens)
    try:
        with httpx.Client(base_url=base) as client:
            posted = [client.post("/v1/events", json=e, headers={
                "Authorization": f"Bearer {service}"}).status_code for e in case_walk("HZ-S")]
            read = client.get("/v1/cases/HZ-S", headers={"Authorization": f"Bearer {mine}"})
            refused = client.get("/v1/cases/HZ-S", headers={"Authorization": f"Bearer {theirs}"})
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert posted == [201] * 18
    assert read.status_code == 200 and len(read.json()["timeline"]) == 18
    assert (refused.status_code, refused.json()["code"]) == (403, "OUT_OF_SCOPE")
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert server.returncode in (0, -signal.SIGTERM)
    assert b"Traceback" not in stderr
    assert service not in tokens.read_text() and mine not in tokens.read_text()
    assert oct(tokens.stat().st_mode & 0o777) == "0o600"
