"""Supervision listings take turns for a few slots (`serve --listing-slots`, default the
cores less one): while the slots are taken, another listing waits — holding no thread — and
an officer's case read, an append and the health checks are answered at once."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from casechain.adapters.tokens import issue_token
from casechain.application import serving, supervision
from casechain.bootstrap import open_case_log, open_projections, open_service
from casechain.entrypoints.http.app import create_app
from tests.factories import case_walk


@contextlib.contextmanager
def _releasing(release: threading.Event, asking: list[threading.Thread]) -> Iterator[None]:
    """Release the held listing and wait for the requests on the way out, even when an
    assertion failed (the test client must not stop under a request)."""
    try:
        yield
    finally:
        release.set()
        for thread in asking:
            thread.join(60)


def _held(real: Callable[..., Any], entered: threading.Event, release: threading.Event
          ) -> Callable[..., Any]:
    """`real`, entered and then held until `release` (the listing a supervisor waits for)."""
    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        assert release.wait(60), "the held listing was never released"
        return real(*args, **kwargs)
    return held


@pytest.mark.parametrize("slots", [1, 2])
def test_a_listing_waits_for_a_free_slot_and_a_case_read_never_does(
        store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slots: int) -> None:
    """One slot: while a page of alerts is being computed, the summary asked meanwhile does
    not start until the page is done, and a case read and an append are answered before
    it; two slots: the summary starts beside the page. Both answer in full in the end."""
    case_log = open_case_log(store_url)
    tokens = tmp_path / "tokens.yaml"
    supervisor = issue_token(tokens, "city", ["supervisor"], "3301", None)
    service = issue_token(tokens, "svc", ["service"], "3301", None)
    components = open_service(case_log, open_projections(case_log), tokens,
                              listing_slots=slots)
    walk = case_walk("HZ-SLOT-1")
    page_in, page_go = threading.Event(), threading.Event()
    summary_in, summary_go = threading.Event(), threading.Event()
    monkeypatch.setattr(supervision, "alerts_page",
                        _held(supervision.alerts_page, page_in, page_go))
    monkeypatch.setattr(supervision, "alert_summary",
                        _held(supervision.alert_summary, summary_in, summary_go))
    summary_go.set()  # the summary runs through once it has started
    as_supervisor = {"Authorization": f"Bearer {supervisor}"}
    answers: dict[str, Any] = {}
    asking: list[threading.Thread] = []
    try:
        assert {o.status for o in case_log.append_many(walk[:-1])} == {"appended"}
        # One event loop for every request (`with`): FastAPI's limit is per event loop, as
        # in `casechain serve`; without `with` each request would get a loop of its own.
        with TestClient(create_app(components, follow=False)) as client, _releasing(page_go, asking):
            def ask(name: str, path: str) -> threading.Thread:
                thread = threading.Thread(target=lambda: answers.__setitem__(
                    name, client.get(path, headers=as_supervisor,
                                     params={"as_of": "2025-12-31T18:00:00"})))
                thread.start()
                asking.append(thread)
                return thread

            page = ask("alerts", "/v1/alerts")
            assert page_in.wait(30), "the page of alerts never started"
            summary = ask("summary", "/v1/alerts/summary")
            read = client.get("/v1/cases/HZ-SLOT-1", headers=as_supervisor)
            assert read.status_code == 200 and len(read.json()["timeline"]) == len(walk) - 1
            sent = client.post("/v1/events/batch", json=walk[-1:],
                               headers={"Authorization": f"Bearer {service}"})
            assert sent.status_code in (200, 201, 207) and sent.json()["appended"] == 1
            assert client.get("/readyz").status_code == 200
            if slots == 1:
                assert not summary_in.wait(1.0), "a second listing started beside the first"
            else:
                assert summary_in.wait(30), "the second slot was not used"
            assert page.is_alive(), "the page of alerts was not held"
            page_go.set()
            for thread in (page, summary):
                thread.join(60)
                assert not thread.is_alive()
        assert summary_in.is_set()
        assert answers["alerts"].status_code == 200, answers["alerts"].text
        assert answers["summary"].status_code == 200, answers["summary"].text
        total = int(answers["alerts"].headers["X-Total-Count"])
        assert answers["summary"].json()["total"] == total == len(answers["alerts"].json())
    finally:
        page_go.set()
        case_log.close()


@pytest.mark.parametrize(("cores", "slots"), [({0}, 1), ({0, 1}, 1), (set(range(8)), 7)])
def test_the_default_slots_leave_a_core_for_case_reads(
        monkeypatch: pytest.MonkeyPatch, cores: set[int], slots: int) -> None:
    """One core fewer than the process may run on, and at least one."""
    monkeypatch.setattr(serving.os, "sched_getaffinity", lambda _: cores, raising=False)
    assert serving.default_listing_slots() == slots


def test_serve_takes_the_number_of_slots_and_refuses_none(tmp_path: Path) -> None:
    """`serve --listing-slots 0` is refused naming the option (exit 2); with one slot the
    server answers a supervisor's listing."""
    import subprocess

    import httpx2 as httpx

    from tests.serving import CASECHAIN, issue, start_server
    tokens = tmp_path / "tokens.yaml"
    supervisor = issue(tokens, "city", "supervisor", "3301")
    refused = subprocess.run([CASECHAIN, "serve", "--db", str(tmp_path / "s.db"), "--create",
                              "--tokens", str(tokens), "--listing-slots", "0"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--listing-slots" in refused.stderr
    server, base = start_server(tmp_path / "s.db", tokens,
                                extra=("--create", "--listing-slots", "1"))
    try:
        answer = httpx.get(f"{base}/v1/alerts/summary",
                           headers={"Authorization": f"Bearer {supervisor}"})
        assert answer.status_code == 200 and answer.json()["total"] == 0
    finally:
        server.terminate()
        server.communicate(timeout=30)
