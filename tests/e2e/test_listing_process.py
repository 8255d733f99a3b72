"""`casechain serve` with its listing process (the default on PostgreSQL): the supervisors'
listings computed by a second process, so that they never hold the interpreter a case read
needs; answered by the server itself while that process is gone, and never a stale answer."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from casechain.entrypoints.http.listings import ANSWERED_BY, listing_process_wanted
from tests.factories import case_walk
from tests.helpers import wait_for
from tests.pg import create_database, drop_database
from tests.serving import issue, start_server

AS_OF = {"as_of": "2026-06-30T18:00:00+08:00"}


def _children(pid: int) -> list[int]:
    """The running processes whose parent is `pid` (from /proc/*/stat)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" not in status.read_text()  # a zombie has exited
    except OSError:
        return False


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = create_database()
    try:
        yield url
    finally:
        drop_database(url)


@pytest.mark.postgres
@pytest.mark.slow
def test_listings_are_answered_there_and_here_while_it_is_gone(pg_url: str,
                                                                tmp_path: Path) -> None:
    """On PostgreSQL `serve` starts a listing process: a listing is answered there (marked,
    compressed, its paging headers kept), showing a case appended just before it; a case read
    is answered here. The listing process killed, the same listing is answered here, the
    same rows; it is started again and answers again. A request without a token is refused
    there as here (401)."""
    tokens = tmp_path / "tokens.yaml"
    service = issue(tokens, "svc", "service", "3301")
    city = issue(tokens, "city", "supervisor", "3301")
    server, base = start_server(pg_url, tokens, extra=())
    restarted: list[int] = []
    try:
        with httpx.Client(base_url=base, timeout=60,
                          headers={"Authorization": f"Bearer {city}"}) as client:
            sent = client.post("/v1/events/batch", json=case_walk("HZ-LP-1")[:9],
                               headers={"Authorization": f"Bearer {service}"})
            assert sent.status_code == 200 and sent.json()["appended"] == 9, sent.text
            assert wait_for(lambda: client.get("/v1/alerts/summary", params=AS_OF).headers.get(
                ANSWERED_BY) == "listing-process", 60), "the listing process never answered"
            (child,) = _children(server.pid)

            later = case_walk("HZ-LP-2")[:7]
            sent = client.post("/v1/events/batch", json=later,
                               headers={"Authorization": f"Bearer {service}"})
            assert sent.json()["appended"] == 7
            board = client.get("/v1/board", params={"limit": 1})
            assert board.headers[ANSWERED_BY] == "listing-process"
            assert board.headers["X-Total-Count"] == "2"  # the case appended just before
            following = client.get("/v1/board", params={
                "limit": 1, "cursor": board.headers["X-Next-Cursor"]})
            assert [r["case_id"] for r in board.json() + following.json()] == [
                "HZ-LP-1", "HZ-LP-2"]
            there = client.get("/v1/alerts", params=AS_OF)
            assert there.status_code == 200 and there.headers[ANSWERED_BY] == "listing-process"
            if len(there.content) >= 1024:
                assert there.headers["content-encoding"] == "gzip"
            refused = httpx.get(f"{base}/v1/alerts", timeout=60)
            assert refused.status_code == 401
            assert refused.headers[ANSWERED_BY] == "listing-process"
            read = client.get("/v1/cases/HZ-LP-2")
            assert read.status_code == 200 and len(read.json()["timeline"]) == 7
            assert ANSWERED_BY not in read.headers

            os.kill(child, signal.SIGKILL)
            assert wait_for(lambda: child not in _children(server.pid), 30)
            here = client.get("/v1/alerts", params=AS_OF)
            if ANSWERED_BY not in here.headers:  # not yet started again: answered here
                assert here.status_code == 200
            assert here.json() == there.json()
            assert wait_for(lambda: client.get("/v1/alerts", params=AS_OF).headers.get(
                ANSWERED_BY) == "listing-process", 60), "the listing process was not restarted"
            restarted += [c for c in _children(server.pid) if c != child]
            assert restarted
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)
    assert not any(_alive(pid) for pid in restarted), "the listing process left running"


@pytest.mark.postgres
def test_no_listing_process_on_sqlite_or_when_declined(pg_url: str, tmp_path: Path) -> None:
    """On the embedded SQLite file, and on PostgreSQL with `--no-listing-process`, the server
    computes its listings itself and starts no second process."""
    assert not listing_process_wanted(None, "sqlite:///casechain.db")
    assert listing_process_wanted(None, "postgresql+psycopg://u@h/db")
    assert not listing_process_wanted(False, "postgresql+psycopg://u@h/db")
    tokens = tmp_path / "tokens.yaml"
    city = issue(tokens, "city", "supervisor", "3301")
    for db, extra in ((tmp_path / "store.db", ("--create",)),
                      (pg_url, ("--no-listing-process",))):
        server, base = start_server(db, tokens, extra=extra, stdout=subprocess.DEVNULL)
        try:
            answer = httpx.get(f"{base}/v1/alerts/summary", timeout=60,
                               headers={"Authorization": f"Bearer {city}"})
            assert answer.status_code == 200 and ANSWERED_BY not in answer.headers
            assert not _children(server.pid)
        finally:
            server.send_signal(signal.SIGTERM)
            server.communicate(timeout=60)


@pytest.mark.postgres
def test_a_listing_process_stops_itself_when_its_server_is_killed(pg_url: str,
                                                                   tmp_path: Path) -> None:
    """A server killed outright (SIGKILL) cannot stop its listing process: that notices its
    server is gone and stops itself, holding no connection to the store."""
    tokens = tmp_path / "tokens.yaml"
    city = issue(tokens, "city", "supervisor", "3301")
    server, base = start_server(pg_url, tokens, extra=(), stdout=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: httpx.get(
            f"{base}/v1/alerts/summary", timeout=60, headers={"Authorization": f"Bearer {city}"}
        ).headers.get(ANSWERED_BY) == "listing-process", 60)
        (child,) = _children(server.pid)
    finally:
        server.kill()
        server.communicate(timeout=60)
    assert wait_for(lambda: not _alive(child), 30), "the orphaned listing process kept running"
