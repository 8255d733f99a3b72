"""Bulk work without the collector's automatic passes (`bulk_gc`), and what it leaves behind:
the collector as it found it — a freeze made before it (the server's start) included."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from casechain.batching import bulk_gc


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector enabled and nothing frozen, before and after."""
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


def test_a_freeze_made_before_is_not_undone_by_a_catch_up(collector: None) -> None:
    """`casechain serve` freezes what it holds from its start; a view catch-up (each append
    brings one) used to unfreeze it all on its way out, and the full passes over the
    server's start — 70-80 ms each — came back."""
    gc.freeze()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    with bulk_gc():
        with bulk_gc():  # a catch-up inside an import, or two threads at once
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
