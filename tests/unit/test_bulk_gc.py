"""Bulk work without the collector's automatic passes (`bulk_gc`), and what it leaves behind:
the collector as it found it — a server's freeze for life included — once the last block of
any thread has closed."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from casechain import batching
from casechain.batching import bulk_gc, freeze_for_life


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The collector enabled, nothing frozen and no block open, before and after."""
    monkeypatch.setattr(batching, "_COLLECTOR", batching._Collector())
    gc.unfreeze()
    gc.enable()
    yield
    gc.unfreeze()
    gc.enable()


def test_bulk_work_runs_without_passes_and_restores_the_collector(collector: None) -> None:
    kept = [[] for _ in range(1000)]  # what exists on entry is frozen out of the scans
    with bulk_gc():
        assert not gc.isenabled()
        assert gc.get_freeze_count() >= len(kept)
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_freeze_for_life_is_not_undone_by_a_catch_up(collector: None) -> None:
    """`casechain serve` freezes what it holds from its start; a view catch-up (each append
    brings one) used to unfreeze it all on its way out, and the full passes over the
    server's start — 70-80 ms each — came back."""
    freeze_for_life()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    with bulk_gc():
        with bulk_gc():  # a catch-up inside an import
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


def test_blocks_in_several_threads_restore_the_collector_when_the_last_closes(
        collector: None) -> None:
    """A server's catch-ups overlap (a poller's, the follower's): the first to finish does not
    turn the passes back on under the other, nor unfreeze what the other works beside."""
    opened, release = threading.Event(), threading.Event()

    def other_catch_up() -> None:
        with bulk_gc():
            opened.set()
            release.wait(30)

    other = threading.Thread(target=other_catch_up)
    with bulk_gc():
        other.start()
        assert opened.wait(30)
    assert not gc.isenabled()  # the other is still at work
    assert gc.get_freeze_count() > 0  # and what it works beside is still frozen
    release.set()
    other.join(30)
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
