"""The supervisors' listings answered by a process of their own (`serve --listing-process`).

A listing (a page of the city's alerts, its summary, the board ...) is Python work over
hundreds of rows: in one process it takes turns for the interpreter's lock with the case
reads, the appends and the follower, and each of a case read's round trips to the database
waits for that lock again. On the city year under the benchmark's stress (four clients
polling without pause, a writer sending case after case), in one run: a case read's p99
106.7 ms with the listings in the server's process, 96.0 ms with them in the listing process,
and the pollers answered 138 and 162 times in 30 s (docs/scaling.md).

`ListingProcess` runs a second `casechain serve` on a Unix socket in a private folder, with
no follower of its own (this process keeps the views up; a listing still catches its views
up to the log's head before it answers, as here). `ListingsElsewhere`, outermost of this
application's middleware, sends each request for a supervision listing there as it came
(the token is checked there, against the same token file) and relays the answer, already
compressed, as it comes back; everything else — case reads, appends, proofs, exports of the
log, the dashboard — is answered here. While the listing process is not there (starting,
restarting after it died) the listing is answered here, as without it: no request fails for
want of it. A listing answered there carries `X-CaseChain-Answered-By: listing-process`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx2 as httpx
import structlog
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ANSWERED_BY", "ListingProcess", "ListingsElsewhere", "exit_with_parent",
           "listing_process_wanted"]

log = structlog.get_logger("casechain.http")

#: The response header naming where a listing was computed.
ANSWERED_BY = "x-casechain-answered-by"
#: Headers of one connection, not of the request or answer (RFC 9110 §7.6.1).
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"te",
                         b"trailer", b"transfer-encoding", b"upgrade", b"host"})


class ListingsElsewhere:
    """ASGI middleware: GET requests matching `routes` answered by the process listening on
    `socket_path`, or here while it does not answer (see the module's text)."""

    def __init__(self, app: ASGIApp, socket_path: str, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = list(routes)
        self.client = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=socket_path),
                                        base_url="http://listing-process", timeout=None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._listing(scope):
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        target = scope.get("raw_path") or scope["path"].encode()
        request = self.client.build_request(
            "GET", (target + (b"?" + query if query else b"")).decode("latin-1"),
            headers=[(k, v) for k, v in scope["headers"] if k.lower() not in _HOP_BY_HOP])
        try:
            answer = await self.client.send(request, stream=True)
        except httpx.TransportError:  # not there (starting or restarting): answered here
            await self.app(scope, receive, send)
            return
        try:
            headers = [(k, v) for k, v in answer.headers.raw if k.lower() not in _HOP_BY_HOP]
            await send({"type": "http.response.start", "status": answer.status_code,
                        "headers": [*headers, (ANSWERED_BY.encode(), b"listing-process")]})
            async for chunk in answer.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            last: Message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(last)
        finally:
            await answer.aclose()

    def _listing(self, scope: Scope) -> bool:
        return (scope["type"] == "http" and scope["method"] == "GET"
                and any(route.matches(scope)[0] == Match.FULL for route in self.routes))


class ListingProcess:
    """A `casechain serve --listings-only` child on a Unix socket, started again (after a
    pause) whenever it exits until `stop`. Its output goes where this process's goes."""

    RESTART_AFTER = 2.0

    def __init__(self, serve_args: Sequence[str], env: Mapping[str, str] | None = None
                 ) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="casechain-listings-"))  # 0700
        self.socket_path = str(self._folder / "listings.sock")
        self._command = [sys.executable, "-m", "casechain.entrypoints.cli.main", "serve",
                         *serve_args, "--uds", self.socket_path, "--listings-only"]
        self._env = {**os.environ, **(env or {})}
        self._stopping = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._watcher = threading.Thread(target=self._keep_running, daemon=True,
                                         name="casechain-listing-process")

    def start(self) -> ListingProcess:
        """Start the child and the thread that starts it again when it exits."""
        self._watcher.start()
        return self

    @property
    def pid(self) -> int | None:
        """The running child's process id (None between runs)."""
        child = self._child
        return child.pid if child is not None and child.poll() is None else None

    def _keep_running(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                if self._stopping.is_set():
                    return
                self._child = subprocess.Popen(self._command, stdin=subprocess.DEVNULL,
                                               env=self._env)
            code = self._child.wait()
            if self._stopping.is_set():
                return
            log.warning("listing_process.exited", code=code, restart_in_s=self.RESTART_AFTER)
            self._stopping.wait(self.RESTART_AFTER)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the child (SIGTERM, then SIGKILL after `timeout`) and remove its socket."""
        with self._lock:
            self._stopping.set()
            child = self._child
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self._watcher.join(timeout)
        with contextlib.suppress(OSError):
            shutil.rmtree(self._folder)


def exit_with_parent(every: float = 1.0) -> threading.Thread:
    """In the listing process: stop (SIGTERM to itself, a graceful shutdown) once the server
    that started it is gone — killed outright, it could not stop its listing process."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        log.warning("listing_process.orphaned", parent=parent)
        os.kill(os.getpid(), signal.SIGTERM)

    watcher = threading.Thread(target=watch, daemon=True, name="casechain-parent-watch")
    watcher.start()
    return watcher


def listing_process_wanted(choice: bool | None, db_url: str) -> bool:
    """`--listing-process` / `--no-listing-process`, or by default: on PostgreSQL (the city's
    store: many supervisors beside many officers), not on the embedded SQLite file."""
    if choice is not None:
        return choice
    return db_url.startswith("postgresql")
