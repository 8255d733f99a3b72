"""The cached case heads against the store port: a cached head is used only while the store
still ends where the cache does (another writer's events are never missed), and the cache
keeps the most recently used cases. A fake store stands behind the port; the real stores are
held to the same behaviour by the racing-writer tests in tests/integration/test_case_log.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from casechain.application.case_heads import CaseHeads
from casechain.application.ports import Transaction


class FakeStore:
    """Records per case, and a count of the streams read (what the cache saves)."""

    def __init__(self) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.streams_read: list[str] = []

    def add(self, case_id: str, event_type: str = "penalty.evidence_collected") -> None:
        stream = self.records.setdefault(case_id, [])
        stream.append({"case_id": case_id, "seq": len(stream) + 1, "type": event_type,
                       "occurred_at": "2025-05-06T10:00:00+08:00", "jurisdiction": "330106001",
                       "payload": {}, "hash": f"{case_id}-{len(stream) + 1}"})

    def heads(self, tx: Transaction, case_ids: Sequence[str]) -> dict[str, int]:
        return {cid: len(self.records[cid]) for cid in case_ids if self.records.get(cid)}

    def streams(self, tx: Transaction, case_ids: Sequence[str]
                ) -> dict[str, list[dict[str, Any]]]:
        self.streams_read += list(case_ids)
        return {cid: list(self.records[cid]) for cid in case_ids if cid in self.records}


def test_a_cached_head_is_used_while_the_store_ends_where_it_does() -> None:
    store = FakeStore()
    store.add("HZ-1")
    heads = CaseHeads(store)  # type: ignore[arg-type]  # the two methods CaseHeads uses
    heads.remember(heads.load({"HZ-1"}, object()))
    store.streams_read.clear()
    assert heads.load({"HZ-1"}, object())["HZ-1"].seq == 1
    assert store.streams_read == []


def test_another_writers_event_makes_the_cached_head_stale() -> None:
    store = FakeStore()
    store.add("HZ-1")
    heads = CaseHeads(store)  # type: ignore[arg-type]
    heads.remember(heads.load({"HZ-1"}, object()))
    store.add("HZ-1")  # written by another process, past the cache
    assert heads.load({"HZ-1"}, object())["HZ-1"].seq == 2
    assert store.streams_read[-1] == "HZ-1"


def test_a_case_never_recorded_has_an_empty_file() -> None:
    heads = CaseHeads(FakeStore())  # type: ignore[arg-type]
    assert heads.load({"HZ-NEW"}, object())["HZ-NEW"].seq == 0


def test_the_cache_keeps_the_most_recently_used_cases() -> None:
    store = FakeStore()
    for n in range(3):
        store.add(f"HZ-{n}")
    heads = CaseHeads(store, size=2)  # type: ignore[arg-type]
    for n in range(3):
        heads.remember(heads.load({f"HZ-{n}"}, object()))
    store.streams_read.clear()
    heads.load({"HZ-0", "HZ-1", "HZ-2"}, object())
    assert store.streams_read == ["HZ-0"]
