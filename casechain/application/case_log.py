"""Use cases of the case log: append envelopes, read a case, export the log.

`CaseLog` is an eventsourcing `Application` that speaks to its store through a port
(`casechain.application.ports.EventStore`; the library finds the adapter by name). Appends
go in batches: each batch is validated, checked against the rule book and the case heads,
hashed, and written in one transaction with the store's write lock; a conflict with another
writer (same case, same event id) rolls the batch back, reloads what changed, and tries
again, so racing writers lose nothing and duplicate nothing.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from casechain.application.case_heads import CaseHeads
from casechain.application.judging import (
    AppendOutcome,
    BatchJudge,
    Guard,
    _Batch,
    _Checked,
    _InFlight,
    _utc_now,
    batch_cases,
    devices_to_load,
    parse_batch,
)
from casechain.application.ports import (
    EventStore,
    EventStoreFactory,
    Transaction,
    WriteTransaction,
)
from casechain.domain.case import Case, CaseFile, case_uuid
from casechain.domain.rules import NoRules, RuleBook
from casechain.domain.subjects import SubjectDecision
from casechain.errors import CaseChainError, ConfigurationError, StoreConflict

__all__ = ["AppendOutcome", "CaseLog", "CaseNotFound", "Guard"]

log = structlog.get_logger("casechain.append")

#: The store a case log opens unless told otherwise: a SQLite file in the working folder.
DEFAULT_DB_URL = "sqlite:///./casechain.db"
#: The library's infrastructure factory that gives our recorders (found by name: the
#: library imports it, so the application does not).
PERSISTENCE_MODULE = "casechain.adapters.event_store:Factory"
BATCH_SIZE = 1000
MAX_RETRIES = 20


class _Overtaken(Exception):
    """A batch judged ahead no longer rests on what the store holds: judge it again."""


class CaseNotFound(CaseChainError, LookupError):
    """No event has been recorded for this case id."""


class CaseLog(Application[UUID]):
    """The case log: append envelopes, read cases, export, on one store."""

    name = "casechain"

    def __init__(self, db_url: str = DEFAULT_DB_URL, rules: RuleBook | None = None,
                 cache_size: int = 20_000, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(env={"PERSISTENCE_MODULE": PERSISTENCE_MODULE, "DB_URL": db_url})
        if not isinstance(self.factory, EventStoreFactory):
            raise ConfigurationError(f"{PERSISTENCE_MODULE} gives no event store")
        self.store: EventStore = self.factory.case_store()
        self.db_url = db_url
        self.rules: RuleBook = rules or NoRules()
        self._heads = CaseHeads(self.store, cache_size)
        # One batch at a time per instance (the cache is shared); re-entrant: an import judging
        # ahead holds it throughout and may judge a batch again under it.
        self._lock = threading.RLock()
        self._commit_thread: ThreadPoolExecutor | None = None
        # recorded_at comes from `clock`; replay fixes it to compare runs.
        self._judge = BatchJudge(self.store, self.rules, clock or _utc_now)

    # -- appending ----------------------------------------------------------------
    def append(self, raw: object) -> AppendOutcome:
        """Append one envelope (a decoded JSON object)."""
        (outcome,) = self.append_many([raw])  # run the generator to the end: the commit
        return outcome

    def append_many(self, raws: Iterable[object], batch_size: int = BATCH_SIZE,
                    guard: Guard | None = None, *, ahead: bool = False
                    ) -> Iterator[AppendOutcome]:
        """Append envelopes in order, in batches; yield one outcome per envelope, in order.

        Batches are pipelined: while one batch's commit is written to disk (by a committer
        thread; the database driver releases the GIL), the next batch is parsed and
        validated. Outcomes of a batch are yielded only once it is committed. `guard`, if
        given, is asked under the write lock whether each envelope may be appended.

        `ahead` (an import: long runs, no guard): where the rows are written by a server
        (PostgreSQL), each batch is also *judged* while the one before is being written,
        against that batch's outcome — see `_append_ahead`. The outcomes are the same.
        """
        if ahead and guard is None and self.store.insert_waits_on_server:
            yield from self._append_ahead(raws, batch_size)
            return
        in_flight: _InFlight | None = None
        try:
            for parsed in self._parsed_batches(raws, batch_size, guard):
                if in_flight is not None:
                    done, in_flight = in_flight, None
                    yield from self._finish(done)
                in_flight = self._start(parsed)
            if in_flight is not None:
                done, in_flight = in_flight, None
                yield from self._finish(done)
        finally:
            if in_flight is not None:  # the caller stopped early: still settle the batch
                self._finish(in_flight)

    def _append_ahead(self, raws: Iterable[object], batch_size: int) -> Iterator[AppendOutcome]:
        """Judge each batch while the batch before it is written, then write it after.

        A batch is judged outside the store's write lock, against the files the batch in
        flight leaves behind (for its cases) and the store's committed heads (for the
        others); the committer then takes the lock and writes it only if every file it was
        judged on is still at the seq it was judged at and the batch before it was written.
        Else (another writer moved one of those cases, or the batch before failed) it is
        judged again under the lock, as `append_many` does without `ahead`: outcomes,
        hashes and positions are those of judging one batch after another.
        """
        with self._lock:  # re-entered by `_start` when a batch is judged again
            flights: deque[_InFlight] = deque()
            try:
                for parsed in self._parsed_batches(raws, batch_size, None):
                    flights.append(self._judge_ahead(parsed, flights[-1] if flights else None))
                    if len(flights) > 1:
                        yield from self._finish_ahead(flights.popleft())
                while flights:
                    yield from self._finish_ahead(flights.popleft())
            finally:
                for flight in flights:  # the caller stopped early: still settle them
                    self._finish_ahead(flight)

    def _judge_ahead(self, parsed: _Batch, before: _InFlight | None) -> _InFlight:
        carried, in_flight, previous = {}, None, None
        if before is not None:
            carried, previous = before.checked.working, before.commit
            in_flight = {event_id: case_uuid(case_id)
                         for _, case_id, event_id, _ in before.checked.appended}
        with self.store.reading() as tx:
            files = self._files_after(batch_cases(parsed), carried, tx)
            files.update(self._files_after(devices_to_load(parsed, files), carried, tx))
            checked = self._judge.check(parsed, tx, files, in_flight)
        judged_at = {case_id: file.seq for case_id, file in files.items()}
        commit = self._committer().submit(self._write_ahead, checked, judged_at, previous)
        return _InFlight(commit, checked, parsed)

    def _files_after(self, case_ids: set[str], carried: dict[str, CaseFile],
                     tx: Transaction) -> dict[str, CaseFile]:
        """These cases' files as the batch in flight leaves them, else as committed."""
        files = {cid: carried[cid] for cid in case_ids if cid in carried}
        rest = case_ids - files.keys()
        if rest:
            files.update(self._heads.load(rest, tx))
        return files

    def _write_ahead(self, checked: _Checked, judged_at: dict[str, int],
                     previous: Future[list[int]] | None) -> list[int]:
        """In the committer: write a batch judged ahead, if what it was judged on holds."""
        if previous is not None and previous.exception() is not None:
            raise _Overtaken  # judged on the files of a batch that was not written
        tx = self.store.begin_write()
        try:
            heads = self.store.heads(tx, list(judged_at))
            if any(heads.get(cid, 0) != seq for cid, seq in judged_at.items()):
                raise _Overtaken  # another writer appended to one of its cases meanwhile
        except BaseException:
            tx.rollback()
            raise
        return self._write(tx, checked)

    def _finish_ahead(self, flight: _InFlight) -> list[AppendOutcome]:
        try:
            positions = flight.commit.result()
        except (_Overtaken, IntegrityError):
            self._heads.forget(flight.checked.working)
            return self._finish(self._start(flight.parsed))  # judged again, under the lock
        except BaseException:
            self._heads.forget(flight.checked.working)
            raise
        return self._settled(flight.checked, positions)

    def _parsed_batches(self, raws: Iterable[object], batch_size: int,
                        guard: Guard | None) -> Iterator[_Batch]:
        chunk: list[object] = []
        offset = 0
        for raw in raws:
            chunk.append(raw)
            if len(chunk) >= batch_size:
                yield parse_batch(chunk, offset, guard)
                offset += len(chunk)
                chunk = []
        if chunk:
            yield parse_batch(chunk, offset, guard)

    def _start(self, parsed: _Batch, attempt: int = 1) -> _InFlight:
        """Check a batch under the write lock, then hand its commit to the committer thread.

        On SQLite the rows are inserted here and only the commit (disk writes, GIL released)
        is handed over; on PostgreSQL the COPY goes too, since the client mostly waits on the
        server there. Either way the next batch is parsed meanwhile."""
        self._lock.acquire()
        try:
            tx = self.store.begin_write()
            try:
                files = self._heads.load_with(batch_cases(parsed), tx, partial(devices_to_load, parsed))
                checked = self._judge.check(parsed, tx, files)
                if self.store.insert_waits_on_server:
                    commit = self._committer().submit(self._write, tx, checked)
                else:
                    positions = self._insert(tx, checked)
                    commit = self._committer().submit(self._commit, tx, positions)
            except BaseException:
                tx.rollback()
                raise
        except IntegrityError:
            # Another writer got the same case or event id in first (possible only for a
            # writer that does not take the lock): reload those cases and try again.
            self._heads.forget(p.envelope.case_id for p in parsed.pending)
            self._lock.release()
            if attempt >= MAX_RETRIES:
                raise StoreConflict(f"gave up after {MAX_RETRIES} conflicting attempts to append "
                                    f"{len(parsed.pending)} events to {self.db_url}") from None
            return self._start(parsed, attempt + 1)
        except BaseException:
            self._lock.release()
            raise
        return _InFlight(commit, checked, parsed)

    def _insert(self, tx: WriteTransaction, checked: _Checked) -> list[int]:
        return self.store.insert(tx, checked.stored, checked.stored_ids, checked.decisions)

    def _commit(self, tx: WriteTransaction, positions: list[int]) -> list[int]:
        tx.commit()
        self.store.note_appended(len(positions))
        return positions

    def _write(self, tx: WriteTransaction, checked: _Checked) -> list[int]:
        try:
            positions = self._insert(tx, checked)
        except BaseException:
            tx.rollback()
            raise
        return self._commit(tx, positions)

    def _finish(self, flight: _InFlight, attempt: int = 1) -> list[AppendOutcome]:
        """Wait for a batch's commit; then its outcomes are final."""
        checked = flight.checked
        try:
            positions = flight.commit.result()
        except IntegrityError:
            # Another writer got the same case or event id in first (possible only for a
            # writer that does not take the lock): reload those cases and try again.
            self._heads.forget(checked.working)
            self._lock.release()
            if attempt >= MAX_RETRIES:
                raise StoreConflict(f"gave up after {MAX_RETRIES} conflicting attempts to append "
                                    f"{len(checked.stored)} events to {self.db_url}") from None
            return self._finish(self._start(flight.parsed), attempt + 1)
        except BaseException:
            self._heads.forget(checked.working)
            self._lock.release()
            raise
        self._lock.release()
        return self._settled(checked, positions)

    def _settled(self, checked: _Checked, positions: list[int]) -> list[AppendOutcome]:
        """A committed batch's outcomes, in order; its files become the newest heads."""
        outcomes = checked.outcomes
        blog = log.bind()
        debug = blog.is_enabled_for(logging.DEBUG)
        for (index, case_id, event_id, seq), position in zip(checked.appended, positions,
                                                             strict=True):
            outcomes[index] = AppendOutcome(index, "appended", case_id, event_id, seq, position)
            if debug:
                blog.debug("event.appended", case_id=case_id, event_id=event_id, seq=seq,
                           position=position)
        self._heads.remember(checked.working)
        return [outcomes[i] for i in sorted(outcomes)]

    def _committer(self) -> ThreadPoolExecutor:
        if self._commit_thread is None:
            self._commit_thread = ThreadPoolExecutor(1, thread_name_prefix="casechain-commit")
        return self._commit_thread

    def subject_decisions(self, subject_id: str) -> list[SubjectDecision]:
        """Every penalty decision on a subject, across cases (the subject index)."""
        return self.store.subject_decisions(subject_id)

    # -- reading ------------------------------------------------------------------
    def get_case(self, case_id: str) -> Case:
        """The Case aggregate, rebuilt by the library's repository."""
        try:
            case: object = self.repository.get(case_uuid(case_id))
        except AggregateNotFoundError:
            raise CaseNotFound(case_id) from None
        assert isinstance(case, Case)
        return case

    def jurisdictions(self, case_ids: Iterable[str]) -> dict[str, str | None]:
        """The recorded jurisdiction of each case (None for a case with no event yet)."""
        wanted = sorted(set(case_ids))
        # Folded from the store, not through the writers' cache of heads: that cache is
        # held with the write lock for a whole batch (judged, copied, committed), and a
        # case read checking its scope would wait for every append in flight.
        with self.store.reading() as tx:
            files = self._heads.read(wanted, tx)
        return {cid: files[cid].jurisdiction if files[cid].seq else None for cid in wanted}

    def case_records(self, case_id: str) -> list[dict[str, Any]]:
        """Every stored record of a case, in seq order, with its global position."""
        rows = self.store.case_records(case_id)
        if not rows:
            raise CaseNotFound(case_id)
        return [_with_position(record, position) for position, record in rows]

    def export(self, case_id: str | None = None, page: int = 1000, after: int = 0
               ) -> Iterator[dict[str, Any]]:
        """Stored records with their positions: one case, or the whole log in global order
        (from the position after `after`)."""
        if case_id is not None:
            yield from self.case_records(case_id)
            return
        start = after
        while True:
            rows = self.store.records_after(start, page)
            for position, record in rows:
                yield _with_position(record, position)
            if len(rows) < page:
                return
            start = rows[-1][0]

    def close(self) -> None:
        """Release the database connections."""
        if self._commit_thread is not None:
            self._commit_thread.shutdown(wait=True)
        super().close()
        self.factory.close()


def _with_position(record: dict[str, Any], position: int) -> dict[str, Any]:
    out = {k: v for k, v in record.items() if k not in ("seq", "recorded_at", "prev_hash",
                                                         "hash")}
    out.update(seq=record["seq"], position=position, recorded_at=record["recorded_at"],
               prev_hash=record["prev_hash"], hash=record["hash"])
    return out
