"""The access log (查阅留痕) written from several places at once — two server processes on one
store, a server's request threads — stays one chain numbered without gaps; a read recorded
on PostgreSQL takes no connection of its own."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from casechain.adapters.access_log import AccessLog
from casechain.bootstrap import open_case_log, recorder_of
from casechain.domain.access import Principal

READER = Principal("city", ("supervisor",), "3301")


def test_two_processes_number_each_entry_after_the_others(store_url: str) -> None:
    """Each log numbers its next entry after the last it wrote; when the other wrote
    meanwhile that number is taken, and the entry goes after the other's — not over it,
    not with a gap."""
    case_log = open_case_log(store_url)
    try:
        first, second = AccessLog(recorder_of(case_log)), AccessLog(recorder_of(case_log))
        writers = [second, first, first, second, second, first, second]
        written = [writer.record(READER, "case.read", f"HZ-{n}")
                   for n, writer in enumerate(writers)]
        assert [row["seq"] for row in written] == [1, 2, 3, 4, 5, 6, 7]
        assert [e["resource"] for e in reversed(first.entries())] == [
            f"HZ-{n}" for n in range(7)]
        assert first.verify() == (7, written[-1]["hash"], None)
        assert second.head() == (7, written[-1]["hash"])
    finally:
        case_log.close()


def test_request_threads_and_another_process_keep_one_chain(store_url: str) -> None:
    """Four request threads of one server and a second server's log recording at once: every
    read is in the log once, and the chain verifies."""
    case_log = open_case_log(store_url)
    try:
        served, other = AccessLog(recorder_of(case_log)), AccessLog(recorder_of(case_log))

        def read_cases(log: AccessLog, name: str) -> None:
            for n in range(15):
                log.record(READER, "case.read", f"{name}-{n}")

        threads = [threading.Thread(target=read_cases, args=(served, f"T{t}")) for t in range(4)]
        threads.append(threading.Thread(target=read_cases, args=(other, "OTHER")))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        entries = served.entries()
        assert sorted(e["resource"] for e in entries) == sorted(
            f"{name}-{n}" for name in ("T0", "T1", "T2", "T3", "OTHER") for n in range(15))
        count, _, problem = other.verify()
        assert (count, problem) == (75, None)
    finally:
        case_log.close()


def test_a_read_is_recorded_on_the_requests_connection(store_url: str) -> None:
    """On PostgreSQL the entry is one statement on the request's connection (no connection
    checked out, pinged, begun and committed for it); it is committed at once — another
    connection sees it before the request ends."""
    case_log = open_case_log(store_url)
    recorder = recorder_of(case_log)
    try:
        log = AccessLog(recorder)
        checkouts: list[object] = []
        sa.event.listen(recorder.engine.pool, "checkout", lambda *_: checkouts.append(1))
        with recorder.one_connection():
            before = len(checkouts)
            row = log.record(READER, "case.read", "HZ-ONE")
            extra = len(checkouts) - before
            seen = threading.Thread(target=lambda: checkouts.append(log.head()))
            seen.start()
            seen.join(60)
        assert checkouts[-1] == (1, row["hash"])
        if recorder.is_postgres:
            assert extra == 0
    finally:
        case_log.close()


def test_a_number_taken_on_the_requests_connection_leaves_it_usable(store_url: str) -> None:
    """Another server's entry between two of this one's, inside a request: the refused number
    costs the request nothing — the entry goes after the other's, and the request's later
    reads on the same connection are answered."""
    case_log = open_case_log(store_url)
    recorder = recorder_of(case_log)
    try:
        served, other = AccessLog(recorder), AccessLog(recorder)
        served.record(READER, "case.read", "HZ-A")
        other.record(READER, "case.read", "HZ-B")
        with recorder.one_connection():
            row = served.record(READER, "case.read", "HZ-C")  # number 2 is taken
            assert served.head() == (3, row["hash"])
            assert [e["resource"] for e in served.entries()] == ["HZ-C", "HZ-B", "HZ-A"]
        assert served.verify() == (3, row["hash"], None)
    finally:
        case_log.close()


def test_a_case_s_reads_are_found_by_index_and_read_below_a_number(store_url: str) -> None:
    """The access log's pages: entries below a number, newest first, one case's or all; the
    count of each case's reads; and an older store, opened again, gains the index a case's
    reads are found by."""
    case_log = open_case_log(store_url)
    try:
        log = AccessLog(recorder_of(case_log))
        for n in range(9):
            log.record(READER, "case.read", f"HZ-{n % 3}")
        assert [e["seq"] for e in log.entries(limit=4, before=8)] == [7, 6, 5, 4]
        assert [e["seq"] for e in log.entries("HZ-1", limit=10, before=8)] == [5, 2]
        assert log.counts_by_resource() == {"HZ-0": 3, "HZ-1": 3, "HZ-2": 3}
        assert log.counts_by_resource("HZ-2") == {"HZ-2": 3}
        assert (log.count(), log.count("HZ-0"), log.count("HZ-9")) == (9, 3, 0)
        engine = recorder_of(case_log).engine
        with engine.begin() as conn:
            conn.execute(sa.text("DROP INDEX casechain_access_log_resource"))
        AccessLog(recorder_of(case_log))  # opened again, as a server started on an old store
        indexes = sa.inspect(engine).get_indexes("casechain_access_log")
        assert {"casechain_access_log_resource"} <= {i["name"] for i in indexes}
    finally:
        case_log.close()
