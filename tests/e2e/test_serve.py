"""`casechain serve` as a real process on loopback: tokens issued by the CLI, HTTP over TCP."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.factories import case_walk
from tests.kafka_broker import free_port

CASECHAIN = str(Path(sys.executable).with_name("casechain"))


def _issue(tokens: Path, principal: str, role: str, scope: str) -> str:
    done = subprocess.run([CASECHAIN, "tokens", "issue", "--principal", principal, "--role", role,
                           "--scope", scope, "--tokens", str(tokens), "--days", "1"],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.mark.slow
def test_the_server_takes_a_case_over_http_and_keeps_it_from_another_district(
        tmp_path: Path) -> None:
    """Started by `casechain serve`, the API appends a whole case posted event by event,
    serves it to a supervisor of the district, refuses one of another district, and stops
    cleanly on SIGTERM; the token file holds no token."""
    tokens = tmp_path / "tokens.yaml"
    service = _issue(tokens, "approval-system", "service", "3301")
    mine = _issue(tokens, "S-330106", "supervisor", "330106")
    theirs = _issue(tokens, "S-330105", "supervisor", "330105")
    port = free_port()
    server = subprocess.Popen([CASECHAIN, "serve", "--db", str(tmp_path / "s.db"), "--tokens",
                               str(tokens), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
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
