"""`casechain serve` as a process on loopback, with tokens issued by the CLI, for e2e tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import IO

import httpx2 as httpx

from tests.helpers import wait_for
from tests.kafka_broker import free_port

CASECHAIN = str(Path(sys.executable).with_name("casechain"))


def issue(tokens: Path, principal: str, role: str, scope: str) -> str:
    """A token valid one day, issued by `casechain tokens issue` into the token file."""
    done = subprocess.run([CASECHAIN, "tokens", "issue", "--principal", principal, "--role", role,
                           "--scope", scope, "--tokens", str(tokens), "--days", "1"],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def start_server(db: Path | str, tokens: Path, stdout: int | None = subprocess.PIPE,
                 extra: tuple[str, ...] = ("--create",), stderr: IO[bytes] | int = subprocess.PIPE
                 ) -> tuple[subprocess.Popen[bytes], str]:
    """`casechain serve` on a free loopback port (the store a SQLite path or any URL; a new
    one is created unless `extra` says otherwise), once `/readyz` answers 200; its base URL."""
    port = free_port()
    server = subprocess.Popen([CASECHAIN, "serve", "--db", str(db), "--tokens", str(tokens),
                               "--port", str(port), *extra], stdout=stdout,
                              stderr=stderr)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/readyz").status_code == 200
        except httpx.TransportError:
            return False

    if wait_for(ready, 30):
        return server, base
    server.kill()
    _, said = server.communicate(timeout=10)
    raise RuntimeError(f"casechain serve was not ready within 30 s: {(said or b'').decode()[-2000:]}")
