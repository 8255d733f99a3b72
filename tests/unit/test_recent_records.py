"""The log's latest records held decoded (`RecentRecords`): every read answers what the store
answers, while the log grows, and the end of the log is decoded once, not once per reader."""

from __future__ import annotations

import threading
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from casechain.projections.recent import RecentRecords


class GrowingLog:
    """A log in memory, gap-free from 1, that counts the records it hands out (each one a
    record the store would have decoded)."""

    def __init__(self) -> None:
        self.records: list[tuple[int, dict[str, Any]]] = []
        self.handed_out = 0

    def append(self, count: int) -> None:
        start = len(self.records)
        self.records += [(p, {"position": p}) for p in range(start + 1, start + count + 1)]

    def records_after(self, start: int, limit: int, stop: int | None = None
                      ) -> list[tuple[int, dict[str, Any]]]:
        found = [r for r in self.records if r[0] > start and (stop is None or r[0] <= stop)]
        self.handed_out += len(found[:limit])
        return found[:limit]


# Each step: append some events, then read (start, limit, stop) relative to the head.
_steps = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 60), st.integers(1, 50),
                            st.one_of(st.none(), st.integers(-10, 5))), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(_steps, st.integers(1, 30))
def test_every_read_answers_what_the_store_answers_while_the_log_grows(
        steps: list[tuple[int, int, int, int | None]], keep: int) -> None:
    """Reads from anywhere (before what is held, inside it, at the head, beyond it), with any
    limit and with or without a stop, interleaved with appends: always the store's answer."""
    log = GrowingLog()
    recent = RecentRecords(log, keep=keep)
    for appended, back, limit, stop_offset in steps:
        log.append(appended)
        head = len(log.records)
        start = max(0, head - back)
        stop = None if stop_offset is None else max(0, head + stop_offset)
        assert recent.records_after(start, limit, stop) == log.records_after(start, limit, stop)


def test_the_end_of_the_log_is_decoded_once_for_every_reader() -> None:
    """Six views catching up one at a time and a case read checking the unfolded tail read
    the same 300 new events: the store hands them out once, not seven times; the next round
    reads only what was appended since."""
    log = GrowingLog()
    log.append(10_000)
    recent = RecentRecords(log, keep=2_000)
    assert len(recent.records_after(9_700, 10_000, 10_000)) == 300  # the first reader
    log.handed_out = 0
    for _ in range(7):
        assert [p for p, _ in recent.records_after(9_700, 10_000, 10_000)] == list(
            range(9_701, 10_001))
    assert log.handed_out == 0
    log.append(50)
    assert len(recent.records_after(9_700, 10_000, 10_050)) == 350
    assert len(recent.records_after(10_000, 10_000, None)) == 50
    assert log.handed_out == 50


def test_a_rebuild_s_pages_go_to_the_store_and_are_not_held() -> None:
    """Full pages from the log's beginning are read from the store each time and never
    kept (memory stays bounded by `keep`); the short last page is what is held after."""
    log = GrowingLog()
    log.append(25_000)
    recent = RecentRecords(log, keep=2_000)
    for start in (0, 10_000):
        assert len(recent.records_after(start, 10_000)) == 10_000
    assert len(recent.records_after(20_000, 10_000)) == 5_000  # over keep: not held
    log.handed_out = 0
    recent.records_after(24_000, 10_000)  # 1,000: short, to the end: held from now on
    recent.records_after(24_500, 10_000)
    assert log.handed_out == 1_000


def test_readers_on_many_threads_get_the_store_s_answer() -> None:
    """Eight threads reading the tail while a writer appends: none gets a record twice, out
    of order, or misses one the store had when it asked."""
    log = GrowingLog()
    log.append(100)
    recent = RecentRecords(log, keep=500)
    stop = threading.Event()
    failures: list[str] = []
    lock = threading.Lock()

    def write() -> None:
        while not stop.is_set():
            with lock:
                log.append(3)
            stop.wait(0.001)

    def read() -> None:
        for _ in range(300):
            with lock:
                head = len(log.records)
            start = max(0, head - 200)
            got = [p for p, _ in recent.records_after(start, 10_000, head)]
            if got != list(range(start + 1, head + 1)):
                failures.append(f"({start}, {head}]: {got[:3]}…{got[-3:]}")

    writer = threading.Thread(target=write)
    readers = [threading.Thread(target=read) for _ in range(8)]
    writer.start()
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    stop.set()
    writer.join()
    assert failures == []
