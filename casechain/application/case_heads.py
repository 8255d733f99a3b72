"""The heads of cases: what is known of each case after its events so far (`CaseFile`),
loaded from the store and cached across batches; a cached head is re-checked against the
store's latest seq before it is used, so another writer's events are never missed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable

from casechain.application.ports import EventStore, Transaction
from casechain.domain.case import CaseFile

__all__ = ["CaseHeads"]


class CaseHeads:
    """A bounded cache of case files, loaded from the store on demand."""

    def __init__(self, store: EventStore, size: int = 20_000) -> None:
        self.store = store
        self._files: OrderedDict[str, CaseFile] = OrderedDict()
        self._cache_size = size

    def load(self, case_ids: set[str], tx: Transaction) -> dict[str, CaseFile]:
        """The files of these cases as recorded now (an empty file for a case not yet
        recorded), from the cache where its head is still current, else from the store."""
        cached = {cid: self._files[cid] for cid in case_ids if cid in self._files}
        if cached:
            # Another process may have appended since: keep only heads that are current.
            heads = self.store.heads(tx, list(cached))
            cached = {cid: f for cid, f in cached.items() if heads.get(cid, 0) == f.seq}
        files = dict(cached)
        missing = [cid for cid in case_ids if cid not in files]
        if missing:
            files.update(self.read(missing, tx))
        return files

    def read(self, case_ids: Iterable[str], tx: Transaction) -> dict[str, CaseFile]:
        """The files of these cases folded from the store, the cache neither read nor kept:
        for readers, who must not wait for the writer that owns the cache."""
        wanted = list(case_ids)
        streams = self.store.streams(tx, wanted)
        files = {}
        for cid in wanted:
            file = CaseFile(case_id=cid)
            for record in streams.get(cid, []):
                file.apply(record)
            files[cid] = file
        return files

    def load_with(self, case_ids: set[str], tx: Transaction,
                  also: Callable[[dict[str, CaseFile]], set[str]]) -> dict[str, CaseFile]:
        """The files of these cases and of the other streams `also` names from them (the
        devices a decision's captures rest on)."""
        files = self.load(case_ids, tx)
        more = also(files)
        if more:
            files.update(self.load(more, tx))
        return files

    def remember(self, files: dict[str, CaseFile]) -> None:
        """Keep these files as the newest heads, dropping the least recently used beyond
        the cache size."""
        for case_id, file in files.items():
            self._files[case_id] = file
            self._files.move_to_end(case_id)
        while len(self._files) > self._cache_size:
            self._files.popitem(last=False)

    def forget(self, case_ids: Iterable[str]) -> None:
        """Drop cached heads (they may be stale)."""
        for case_id in case_ids:
            self._files.pop(case_id, None)
