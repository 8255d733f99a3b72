"""One request's reads on one connection (`CaseChainRecorder.one_connection`): a case read
checks a PostgreSQL connection out once instead of a dozen times, and still sees everything
committed before each of its reads, as separate read-committed transactions would."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from casechain.adapters.tokens import issue_token
from casechain.bootstrap import (
    open_case_log,
    open_projections,
    open_service,
    recorder_of,
    verify_projections,
)
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


def _walk(case_id: str, subject_id: str) -> list[dict[str, Any]]:
    walk = case_walk(case_id)
    for event in walk:
        if "subject" in event["payload"]:
            event["payload"]["subject"] = {**event["payload"]["subject"], "id": subject_id}
    return walk


def test_a_read_queues_only_behind_the_catch_up_it_needs(store_url: str,
                                                         tmp_path: Path) -> None:
    """While other callers hold the views' catch-ups (the follower folding a long page, the
    pollers' alerts), a case whose own events the views hold, and whose subject no event
    since concerns, is read at once; once another case of its subject is appended the read
    waits for the cross-case view; a case appended since waits for its timeline — and each
    then shows every event (never an answer that lags the append before it)."""
    case_log = open_case_log(store_url)
    tokens = tmp_path / "tokens.yaml"
    supervisor = issue_token(tokens, "city", ["supervisor"], "3301", None)
    runner = open_projections(case_log)
    client = TestClient(create_app(open_service(case_log, runner, tokens), follow=False))
    headers = {"Authorization": f"Bearer {supervisor}"}
    answers: dict[str, Any] = {}

    def read(case_id: str) -> threading.Thread:
        reader = threading.Thread(target=lambda: answers.__setitem__(
            case_id, client.get(f"/v1/cases/{case_id}", headers=headers)))
        reader.start()
        return reader

    def held(*names: str) -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        for name in names:
            stack.enter_context(runner._catching[name])
        return stack

    old = _walk("HZ-QUEUE-OLD", "91330106QUEUEAAAA1")
    try:
        assert {o.status for o in case_log.append_many(old)} == {"appended"}
        runner.catch_up()
        other = _walk("HZ-QUEUE-OTHER", "91330106QUEUEBBBB2")  # another subject
        assert {o.status for o in case_log.append_many(other)} == {"appended"}
        with held("crosscase", "deadlines", "timeline"):
            reader = read("HZ-QUEUE-OLD")
            reader.join(30)
            assert not reader.is_alive(), "a read of a case the views hold waited"
        assert len(answers.pop("HZ-QUEUE-OLD").json()["timeline"]) == len(old)

        same = _walk("HZ-QUEUE-SAME", "91330106QUEUEAAAA1")  # the old case's subject
        # the same subject named in the events since (the filing), then only known from
        # what the view holds (the decision, the payment, ... name no subject)
        for upto, part in ((7, same[:7]), (len(same), same[7:])):
            assert {o.status for o in case_log.append_many(part)} == {"appended"}
            with held("crosscase", "timeline"):
                waiting, lacking = read("HZ-QUEUE-OLD"), read("HZ-QUEUE-SAME")
                waiting.join(1.0)
                assert waiting.is_alive(), "a read did not wait for its subject's other case"
                assert lacking.is_alive()
            for reader in (waiting, lacking):
                reader.join(30)
            assert answers["HZ-QUEUE-OLD"].status_code == 200
            assert len(answers["HZ-QUEUE-SAME"].json()["timeline"]) == upto
            assert runner.position("crosscase") == runner.store.max_notification_id()
    finally:
        case_log.close()


def test_views_are_brought_to_the_position_asked_and_not_beyond(store_url: str) -> None:
    """`ready` catches the views up to the position a reader asked for — the events appended
    after it are left to the follower — and takes no lock when they stand there already."""
    case_log = open_case_log(store_url)
    runner = open_projections(case_log)
    try:
        assert {o.status for o in case_log.append_many(case_walk("HZ-READY-1"))} == {
            "appended"}
        asked = runner.store.max_notification_id() or 0
        assert {o.status for o in case_log.append_many(case_walk("HZ-READY-2"))} == {
            "appended"}
        runner.ready(["timeline", "board"], asked)
        assert runner.position("timeline") == runner.position("board") == asked
        assert runner.position("deadlines") == 0  # not asked for
        with runner._catching["timeline"]:
            done = threading.Thread(target=runner.ready, args=(["timeline"], asked))
            done.start()
            done.join(30)
            assert not done.is_alive(), "a view already there waited for the lock"
        runner.ready(["timeline"])  # the head: the second case too
        assert runner.position("timeline") == runner.store.max_notification_id()
    finally:
        case_log.close()


def test_a_supervision_listing_makes_its_reads_on_one_connection(store_url: str,
                                                                 tmp_path: Path) -> None:
    """Each supervision listing over HTTP (alerts, their summary, deadlines, the board,
    referrals) checks one PostgreSQL connection out for all its reads — the views'
    positions, the page, its rows, the jurisdictions and persons it names — and, asked
    right after an append, still lists the new case (the views caught up first)."""
    case_log = open_case_log(store_url)
    tokens = tmp_path / "tokens.yaml"
    supervisor = issue_token(tokens, "city", ["supervisor"], "3301", None)
    district = issue_token(tokens, "district", ["supervisor"], "330106", None)
    runner = open_projections(case_log)
    client = TestClient(create_app(open_service(case_log, runner, tokens), follow=False))
    recorder = recorder_of(case_log)
    checkouts: list[object] = []
    sa.event.listen(recorder.engine.pool, "checkout", lambda *_: checkouts.append(1))
    as_of = {"as_of": "2026-06-30T18:00:00+08:00"}
    listings = {"/v1/alerts": as_of, "/v1/alerts/summary": as_of, "/v1/deadlines": as_of,
                "/v1/board": {}, "/v1/referrals": as_of}
    try:
        first = _walk("HZ-LIST-1", "91330106LISTAAAAA1")[:6]
        assert {o.status for o in case_log.append_many(first)} == {"appended"}
        runner.catch_up()
        for token in (supervisor, district):
            for path, params in listings.items():
                before = len(checkouts)
                answer = client.get(path, params=params,
                                    headers={"Authorization": f"Bearer {token}"})
                assert answer.status_code == 200, (path, answer.text)
                if recorder.is_postgres:
                    assert len(checkouts) - before == 1, path
        second = _walk("HZ-LIST-2", "91330106LISTBBBBB2")[:6]
        assert {o.status for o in case_log.append_many(second)} == {"appended"}
        board = client.get("/v1/board", headers={"Authorization": f"Bearer {district}"})
        deadlines = client.get("/v1/deadlines", params=as_of,
                               headers={"Authorization": f"Bearer {district}"})
        assert {row["case_id"] for row in board.json()} == {"HZ-LIST-1", "HZ-LIST-2"}
        assert {row["case_id"] for row in deadlines.json()} >= {"HZ-LIST-2"}
    finally:
        case_log.close()


def test_a_catch_up_inside_a_request_sets_nothing_that_would_not_hold(store_url: str) -> None:
    """A request's reads commit each on its own: a catch-up it makes (a poller's listing after
    an append) reads the views on that connection without `SET LOCAL`, which would hold for
    no statement there — PostgreSQL wrote a warning to its log at each, thousands a minute
    under the stress — and still folds the case."""
    case_log = open_case_log(store_url)
    recorder = recorder_of(case_log)
    runner = open_projections(case_log)
    try:
        assert {o.status for o in case_log.append_many(case_walk("HZ-SHARED-3"))} == {
            "appended"}
        statements: list[tuple[str, object]] = []
        sa.event.listen(recorder.engine, "before_cursor_execute",
                        lambda conn, _cursor, statement, *_: statements.append(
                            (statement, conn.get_execution_options().get("isolation_level"))))
        with recorder.one_connection():
            runner.ready(["crosscase", "deadlines"])
        on_request = [s for s, level in statements if level == "AUTOCOMMIT"]
        assert runner.position("crosscase") == recorder.max_notification_id()
        if recorder.is_postgres:
            assert any("casechain_view" in s for s in on_request)  # the views read there
            assert not [s for s in on_request if s.startswith("SET LOCAL")]
    finally:
        case_log.close()


def test_the_views_positions_and_the_logs_head_are_read_together_and_agree(
        store_url: str) -> None:
    """`ProjectionRunner.positions`: where each view stands (0: never applied) and where the
    log ends, in one statement, the same as asked one at a time — on an empty store, after
    one view caught up, and after the log moved on without them."""
    case_log = open_case_log(store_url)
    recorder = recorder_of(case_log)
    runner = open_projections(case_log)
    names = ["timeline", "deadlines", "crosscase"]
    try:
        assert runner.positions(names) == ({name: 0 for name in names}, 0)
        assert {o.status for o in case_log.append_many(case_walk("HZ-POS-1"))} == {"appended"}
        runner.ready(["timeline"])
        head = recorder.max_notification_id()
        assert {o.status for o in case_log.append_many(case_walk("HZ-POS-2")[:3])} == {
            "appended"}
        statements: list[str] = []
        sa.event.listen(recorder.engine, "before_cursor_execute",
                        lambda _conn, _cursor, statement, *_: statements.append(statement))
        known, now = runner.positions(names)
        assert len([s for s in statements if s.startswith("SELECT")]) == 1  # SQLite: BEGIN too
        assert known == {name: runner.position(name) for name in names}
        assert known == {"timeline": head, "deadlines": 0, "crosscase": 0}
        assert now == recorder.max_notification_id() == (head or 0) + 3
    finally:
        case_log.close()


def test_a_case_read_asks_where_the_views_stand_once(store_url: str, tmp_path: Path) -> None:
    """A case read over HTTP, the views caught up, reads their positions and the log's head
    in one statement (each round trip of a busy server's thread waits for the interpreter
    again: the three views and the head asked one at a time made four); a case appended
    after them is still read with every event, its views caught up first."""
    case_log = open_case_log(store_url)
    recorder = recorder_of(case_log)
    tokens = tmp_path / "tokens.yaml"
    supervisor = issue_token(tokens, "city", ["supervisor"], "3301", None)
    runner = open_projections(case_log)
    client = TestClient(create_app(open_service(case_log, runner, tokens), follow=False))
    headers = {"Authorization": f"Bearer {supervisor}"}
    try:
        assert {o.status for o in case_log.append_many(case_walk("HZ-POS-3"))} == {"appended"}
        runner.catch_up()
        statements: list[str] = []
        sa.event.listen(recorder.engine, "before_cursor_execute",
                        lambda _conn, _cursor, statement, *_: statements.append(statement))
        read = client.get("/v1/cases/HZ-POS-3", headers=headers)
        assert read.status_code == 200, read.text
        asked = [s for s in statements if "casechain_tracking" in s]
        assert len(asked) == 1, asked
        assert "max(casechain_events.position)" in asked[0]
        later = case_walk("HZ-POS-4")
        assert {o.status for o in case_log.append_many(later)} == {"appended"}
        read = client.get("/v1/cases/HZ-POS-4", headers=headers)
        assert read.status_code == 200, read.text
        assert len(read.json()["timeline"]) == len(later)
        assert runner.position("timeline") == recorder.max_notification_id()
    finally:
        case_log.close()


def test_the_end_of_the_log_is_read_once_for_the_follower_and_the_case_reads(
        store_url: str) -> None:
    """A writer's events, followed the way `serve` follows them (each view caught up on its
    own, a case read checking the cross-case view's unfolded tail): the store is asked for
    each new event once (`RecentRecords`), every answer is the store's own, and the views
    kept up this way are the views recomputed from the log."""
    case_log = open_case_log(store_url)
    recorder = recorder_of(case_log)
    runner = open_projections(case_log)
    asked: list[int] = []
    reads = recorder.records_after

    def counted(start: int, limit: int, stop: int | None = None) -> list[Any]:
        found = reads(start, limit, stop)
        asked.extend(p for p, _ in found)
        return found

    recorder.records_after = counted  # type: ignore[method-assign]
    try:
        for n in range(6):
            walk = case_walk(f"HZ-TAIL-{n}")
            assert {o.status for o in case_log.append_many(walk)} == {"appended"}
            known, head = runner.positions(["crosscase"])
            tail = runner.source.records_after(known["crosscase"], runner.page, stop=head)
            assert tail == reads(known["crosscase"], runner.page, head)  # the store's answer
            runner.keep_up()  # six views, one at a time: the same events each
        assert sorted(asked) == list(range(1, recorder.max_notification_id() + 1))
        assert {name: stored == again for name, (stored, again)
                in verify_projections(case_log, runner).items()} == {
            name: True for name in runner.views}
    finally:
        case_log.close()
