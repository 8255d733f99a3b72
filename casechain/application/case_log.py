"""Use cases of the case log: append envelopes, read a case, export the log.

`CaseLog` is an eventsourcing `Application` whose recorder is ours
(`casechain.adapters.storage`). Appends go in batches: each batch is validated, checked
against the rule book and the case heads, hashed, and written in one transaction with
the store's write lock; a conflict with another writer (same case, same event id) rolls the
batch back, reloads what changed, and tries again, so racing writers lose nothing and
duplicate nothing.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
import structlog
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, StoredEvent
from sqlalchemy.engine import Connection

from casechain.adapters import codec
from casechain.adapters.storage import (
    DEFAULT_DB_URL,
    CaseChainRecorder,
    WriteTransaction,
    map_db_errors,
)
from casechain.domain.bounds import EARLIEST, FUTURE_SKEW
from casechain.domain.calendar import SHANGHAI
from casechain.domain.case import Case, CaseFile, case_uuid
from casechain.domain.envelope import Envelope, parse_envelope
from casechain.domain.hashing import CanonicalJSONError, record_hash
from casechain.domain.jurisdiction import check_jurisdiction
from casechain.domain.law import amount_of
from casechain.domain.rules import NoRules, RuleBook
from casechain.domain.subjects import SubjectDecision
from casechain.errors import CaseChainError, EventRejected, Rejection, StoreConflict

__all__ = ["AppendOutcome", "CaseLog", "CaseNotFound", "Guard"]

log = structlog.get_logger("casechain.append")

BATCH_SIZE = 1000
MAX_RETRIES = 20


class CaseNotFound(CaseChainError, LookupError):
    """No event has been recorded for this case id."""


@dataclass(slots=True)  # not frozen: frozen dataclasses cost ~1 µs more to build, per event
class AppendOutcome:
    """What happened to one envelope: appended, duplicate, or rejected (with every reason)."""

    index: int
    status: str
    case_id: str | None = None
    event_id: str | None = None
    seq: int | None = None
    position: int | None = None
    rejections: tuple[Rejection, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {"index": self.index, "status": self.status,
                               "case_id": self.case_id, "event_id": self.event_id}
        if self.status == "appended":
            out.update(seq=self.seq, position=self.position)
        if self.rejections:
            out["rejections"] = [r.as_dict() for r in self.rejections]
        return out


@dataclass
class _Pending:
    index: int
    envelope: Envelope
    event_id: str


#: Whether the caller may append an envelope, asked under the write lock against the case as
#: recorded at that moment: (index of the envelope in the call, the envelope, the case's
#: jurisdiction or None for a new case) -> the rules it breaks (OUT_OF_SCOPE, FORBIDDEN).
Guard = Callable[[int, Envelope, "str | None"], list[Rejection]]


@dataclass
class _Batch:
    outcomes: dict[int, AppendOutcome] = field(default_factory=dict)
    pending: list[_Pending] = field(default_factory=list)
    guard: Guard | None = None


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Now:
    """The recording instant of a batch, and its ISO form computed once."""

    moment: datetime
    iso: str = ""
    #: The wall clock (never the fixed instant of a replay): the latest accepted
    #: occurred_at is this plus FUTURE_SKEW.
    latest: datetime = field(default_factory=lambda: _utc_now() + FUTURE_SKEW)

    def __post_init__(self) -> None:
        object.__setattr__(self, "iso", self.moment.isoformat())


@dataclass
class _Checked:
    outcomes: dict[int, AppendOutcome]
    stored: list[StoredEvent]
    stored_ids: list[str | None]
    appended: list[tuple[int, str, str, int]]
    working: dict[str, CaseFile]
    decisions: list[tuple[int, dict[str, Any]]]


@dataclass
class _InFlight:
    commit: Future[list[int]]
    checked: _Checked
    parsed: _Batch


class CaseLog(Application[UUID]):
    """The case log: append envelopes, read cases, export, on one store."""

    name = "casechain"

    def __init__(self, db_url: str = DEFAULT_DB_URL, rules: RuleBook | None = None,
                 cache_size: int = 20_000, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(env={"PERSISTENCE_MODULE": "casechain.adapters.storage:Factory",
                              "DB_URL": db_url})
        assert isinstance(self.recorder, CaseChainRecorder)
        self.store: CaseChainRecorder = self.recorder
        self.db_url = db_url
        self.rules: RuleBook = rules or NoRules()
        self._files: OrderedDict[str, CaseFile] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()  # one batch at a time per instance: the cache is shared
        self._commit_thread: ThreadPoolExecutor | None = None
        self._clock = clock or _utc_now  # recorded_at; replay fixes it to compare runs

    # -- appending ----------------------------------------------------------------
    def append(self, raw: object) -> AppendOutcome:
        """Append one envelope (a decoded JSON object)."""
        (outcome,) = self.append_many([raw])  # run the generator to the end: the commit
        return outcome

    def append_many(self, raws: Iterable[object], batch_size: int = BATCH_SIZE,
                    guard: Guard | None = None) -> Iterator[AppendOutcome]:
        """Append envelopes in order, in batches; yield one outcome per envelope, in order.

        Batches are pipelined: while one batch's commit is written to disk (by a committer
        thread; the database driver releases the GIL), the next batch is parsed and
        validated. Outcomes of a batch are yielded only once it is committed. `guard`, if
        given, is asked under the write lock whether each envelope may be appended.
        """
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

    def _parsed_batches(self, raws: Iterable[object], batch_size: int,
                        guard: Guard | None) -> Iterator[_Batch]:
        chunk: list[object] = []
        offset = 0
        for raw in raws:
            chunk.append(raw)
            if len(chunk) >= batch_size:
                yield self._parse(chunk, offset, guard)
                offset += len(chunk)
                chunk = []
        if chunk:
            yield self._parse(chunk, offset, guard)

    def _start(self, parsed: _Batch, attempt: int = 1) -> _InFlight:
        """Check a batch under the write lock, then hand its commit to the committer thread.

        On SQLite the rows are inserted here and only the commit (disk writes, GIL released)
        is handed over; on PostgreSQL the COPY goes too, since the client mostly waits on the
        server there. Either way the next batch is parsed meanwhile."""
        self._lock.acquire()
        try:
            tx = self.store.begin_write()
            try:
                with map_db_errors():  # a lost connection is the library's OperationalError
                    checked = self._check_batch(parsed, tx.conn)
                if self.store.is_postgres:
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
            self._forget(p.envelope.case_id for p in parsed.pending)
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
        with map_db_errors():
            positions = self.store.insert_in(tx.conn, checked.stored,
                                             event_ids=checked.stored_ids)
            self._index_decisions(tx.conn, checked, positions)
        return positions

    @staticmethod
    def _commit(tx: WriteTransaction, positions: list[int]) -> list[int]:
        tx.commit()
        return positions

    def _write(self, tx: WriteTransaction, checked: _Checked) -> list[int]:
        try:
            positions = self._insert(tx, checked)
        except BaseException:
            tx.rollback()
            raise
        tx.commit()
        return positions

    def _finish(self, flight: _InFlight, attempt: int = 1) -> list[AppendOutcome]:
        """Wait for a batch's commit; then its outcomes are final."""
        checked = flight.checked
        try:
            positions = flight.commit.result()
        except IntegrityError:
            # Another writer got the same case or event id in first (possible only for a
            # writer that does not take the lock): reload those cases and try again.
            self._forget(checked.working)
            self._lock.release()
            if attempt >= MAX_RETRIES:
                raise StoreConflict(f"gave up after {MAX_RETRIES} conflicting attempts to append "
                                    f"{len(checked.stored)} events to {self.db_url}") from None
            return self._finish(self._start(flight.parsed), attempt + 1)
        except BaseException:
            self._forget(checked.working)
            self._lock.release()
            raise
        self._lock.release()
        outcomes = checked.outcomes
        blog = log.bind()
        debug = blog.is_enabled_for(logging.DEBUG)
        for (index, case_id, event_id, seq), position in zip(checked.appended, positions,
                                                             strict=True):
            outcomes[index] = AppendOutcome(index, "appended", case_id, event_id, seq, position)
            if debug:
                blog.debug("event.appended", case_id=case_id, event_id=event_id, seq=seq,
                           position=position)
        self._remember(checked.working)
        return [outcomes[i] for i in sorted(outcomes)]

    def _committer(self) -> ThreadPoolExecutor:
        if self._commit_thread is None:
            self._commit_thread = ThreadPoolExecutor(1, thread_name_prefix="casechain-commit")
        return self._commit_thread

    def _parse(self, raws: Sequence[object], offset: int, guard: Guard | None) -> _Batch:
        batch = _Batch(guard=guard)
        for index, raw in enumerate(raws, start=offset):
            try:
                envelope = parse_envelope(raw)
            except EventRejected as exc:
                batch.outcomes[index] = AppendOutcome(index, "rejected", exc.case_id,
                                                      exc.event_id, rejections=tuple(exc.rejections))
                log.info("event.rejected", case_id=exc.case_id, event_id=exc.event_id,
                         codes=[r.code for r in exc.rejections])
                continue
            except Exception as exc:  # one envelope never fails its batch
                batch.outcomes[index] = _unjudged(index, None, None, exc)
                continue
            batch.pending.append(_Pending(index, envelope, str(envelope.event_id)))
        return batch

    def _check_batch(self, batch: _Batch, conn: Connection) -> _Checked:
        outcomes = dict(batch.outcomes)
        ids = [p.event_id for p in batch.pending]
        seen = self.store.existing_event_ids(ids, conn) if ids else {}
        files = self._load_files({p.envelope.case_id for p in batch.pending}, conn)
        working = {case_id: file.copy() for case_id, file in files.items()}
        stored: list[StoredEvent] = []
        stored_ids: list[str | None] = []
        appended: list[tuple[int, str, str, int]] = []
        checked_decisions: list[tuple[int, dict[str, Any]]] = []
        now = _Now(self._clock())
        blog = log.bind()  # bind once per batch; per-event debug lines are then nearly free
        for item in batch.pending:
            env = item.envelope
            event_id = item.event_id
            owner = seen.get(event_id)
            if owner is not None:
                outcomes[item.index] = _duplicate_or_reused(item.index, env, event_id, owner)
                blog.debug("event.duplicate", case_id=env.case_id, event_id=event_id)
                continue
            file = working[env.case_id]
            try:
                record, rejections = self._prepare(file, env, now, batch.guard, item.index)
            except Exception as exc:  # a defect must not fail the others
                outcomes[item.index] = _unjudged(item.index, env.case_id, event_id, exc)
                continue
            if rejections:
                outcomes[item.index] = AppendOutcome(item.index, "rejected", env.case_id,
                                                     event_id, rejections=tuple(rejections))
                blog.info("event.rejected", case_id=env.case_id, event_id=event_id,
                          codes=[r.code for r in rejections])
                continue
            assert record is not None
            canonical = record.pop("_canonical")
            stored.append(codec.encode_canonical(env.case_id, record["seq"], canonical,
                                                 record["hash"], record["recorded_at"]))
            stored_ids.append(event_id)
            file.apply(record)
            seen[event_id] = case_uuid(env.case_id)
            appended.append((item.index, env.case_id, event_id, record["seq"]))
            if env.type == "penalty.decided" and record["payload"]["outcome"] == "penalty":
                checked_decisions.append((len(stored) - 1, _decision_row(file, record)))
        return _Checked(outcomes, stored, stored_ids, appended, working, checked_decisions)

    def _prepare(self, file: CaseFile, env: Envelope, now: _Now, guard: Guard | None,
                 index: int) -> tuple[dict[str, Any] | None, list[Rejection]]:
        if env.hash is not None or env.occurred_at > now.latest:  # rare: look closer
            rejections = _future_problems(env, now)
            if rejections:  # the rules would compute with an instant nobody has reached
                return None, rejections
        if guard is not None:
            refused = guard(index, env, file.jurisdiction if file.seq else None)
            if refused:  # the caller learns nothing of a case it may not touch
                return None, refused
        rejections = check_jurisdiction(file, env)
        rejections += self.rules.check(file, env)
        if env.expected_seq is not None and env.expected_seq != file.seq:
            rejections.append(Rejection(
                "CONCURRENCY_CONFLICT",
                f"case {env.case_id}: field expected_seq is {env.expected_seq} but the case is "
                f"at seq {file.seq}; reload the case and resubmit", "expected_seq",
                env.expected_seq))
        record = env.body()
        seq = file.seq + 1
        if env.is_restore:
            recorded = env.recorded_at.isoformat() if env.recorded_at else None
            rejections += _restore_problems(file, env, record, recorded)
            record.update(seq=seq, recorded_at=recorded, prev_hash=file.head_hash)
        else:
            if env.seq is not None or env.recorded_at is not None or env.prev_hash is not None:
                rejections.append(Rejection(
                    "SCHEMA_INVALID", f"case {env.case_id}: engine-set fields seq, recorded_at "
                    "and prev_hash may only come with hash (a restored export)", "hash", None))
            record.update(seq=seq, recorded_at=now.iso, prev_hash=file.head_hash)
        if rejections:
            return None, rejections
        try:
            digest, canonical = record_hash(record)
        except CanonicalJSONError as exc:
            return None, [Rejection(
                "SCHEMA_INVALID", f"case {env.case_id}: the payload holds a value JSON cannot "
                f"carry exactly ({exc}); send large numbers as strings", "payload", None)]
        if env.is_restore and digest != env.hash:
            return None, [Rejection(
                "HASH_MISMATCH",
                f"case {env.case_id} seq {seq}: field hash is {env.hash} but the event's "
                f"content hashes to {digest}; the line was altered after export",
                "hash", env.hash)]
        record["hash"] = digest
        record["_canonical"] = canonical
        return record, []

    # -- case heads ---------------------------------------------------------------
    def _load_files(self, case_ids: set[str], conn: Connection) -> dict[str, CaseFile]:
        cached = {cid: self._files[cid] for cid in case_ids if cid in self._files}
        if cached:
            # Another process may have appended since: keep only heads that are current.
            heads = self.store.stream_heads([case_uuid(cid) for cid in cached], conn)
            cached = {cid: f for cid, f in cached.items() if heads.get(case_uuid(cid), 0) == f.seq}
        files = dict(cached)
        missing = [cid for cid in case_ids if cid not in files]
        if missing:
            streams = self.store.select_streams([case_uuid(cid) for cid in missing], conn)
            for cid in missing:
                file = CaseFile(case_id=cid)
                for stored in streams.get(case_uuid(cid), []):
                    file.apply(codec.decode_record(stored.state))
                files[cid] = file
        return files

    def _remember(self, files: dict[str, CaseFile]) -> None:
        for case_id, file in files.items():
            self._files[case_id] = file
            self._files.move_to_end(case_id)
        while len(self._files) > self._cache_size:
            self._files.popitem(last=False)

    def _forget(self, case_ids: Iterable[str]) -> None:
        """Drop cached heads (they may be stale)."""
        for case_id in case_ids:
            self._files.pop(case_id, None)

    def _index_decisions(self, conn: Connection, checked: _Checked, positions: list[int]) -> None:
        if checked.decisions:
            conn.execute(self.store.tables.subject_decisions.insert(),
                         [{**row, "position": positions[n]} for n, row in checked.decisions])

    def subject_decisions(self, subject_id: str) -> list[SubjectDecision]:
        """Every penalty decision on a subject, across cases (the subject index)."""
        t = self.store.tables.subject_decisions.c
        with self.store.read() as conn:
            rows = conn.execute(sa.select(t.subject_id, t.case_id, t.item_code, t.act_date,
                                          t.decided_on, t.fined, t.fine)
                                .where(t.subject_id == subject_id).order_by(t.position)).all()
        return [SubjectDecision(*row) for row in rows]

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
        wanted = set(case_ids)
        with self._lock, self.store.read() as conn:
            files = self._load_files(wanted, conn)
            self._remember(files)
        return {cid: files[cid].jurisdiction if files[cid].seq else None for cid in wanted}

    def case_records(self, case_id: str) -> list[dict[str, Any]]:
        """Every stored record of a case, in seq order, with its global position."""
        c = self.store.tables.events.c
        with self.store.read() as conn:
            rows = conn.execute(sa.select(c.position, c.state)
                                .where(c.originator_id == case_uuid(case_id))
                                .order_by(c.originator_version)).all()
        if not rows:
            raise CaseNotFound(case_id)
        return [_with_position(codec.decode_record(bytes(state)), pos) for pos, state in rows]

    def export(self, case_id: str | None = None, page: int = 1000, after: int = 0
               ) -> Iterator[dict[str, Any]]:
        """Stored records with their positions: one case, or the whole log in global order
        (from the position after `after`)."""
        if case_id is not None:
            yield from self.case_records(case_id)
            return
        start = after
        while True:
            notes = self.store.select_notifications(start, page, inclusive_of_start=False)
            for note in notes:
                yield _with_position(codec.decode_record(note.state), note.id)
            if len(notes) < page:
                return
            start = notes[-1].id

    def close(self) -> None:
        """Release the database connections."""
        if self._commit_thread is not None:
            self._commit_thread.shutdown(wait=True)
        super().close()
        self.factory.close()


def _future_problems(env: Envelope, now: _Now) -> list[Rejection]:
    """occurred_at (and a restored recorded_at) no later than the clock allows (Bounds)."""
    latest = now.latest
    problems = []
    if env.is_restore and env.recorded_at is not None:
        if env.recorded_at > latest:
            problems.append(Rejection(
                "SCHEMA_INVALID", f"case {env.case_id}: field recorded_at "
                f"{env.recorded_at.isoformat()} lies in the future (after {latest.isoformat()})",
                "recorded_at", env.recorded_at.isoformat()))
            return problems
        if env.recorded_at != EARLIEST:  # a replay's fixed recording instant is not a clock
            latest = min(latest, env.recorded_at + FUTURE_SKEW)
    if env.occurred_at > latest:
        problems.append(Rejection(
            "SCHEMA_INVALID", f"case {env.case_id}: field occurred_at "
            f"{env.occurred_at.isoformat()} lies more than 10 minutes after the moment it is "
            f"recorded ({(latest - FUTURE_SKEW).isoformat()}); an event is recorded after it "
            "happens", "occurred_at", env.occurred_at.isoformat()))
    return problems


def _duplicate_or_reused(index: int, env: Envelope, event_id: str, owner: UUID
                         ) -> AppendOutcome:
    """The same event_id again: a duplicate when it names the same case, else refused."""
    if owner == case_uuid(env.case_id):
        return AppendOutcome(index, "duplicate", env.case_id, event_id)
    rejection = Rejection(
        "SCHEMA_INVALID", f"case {env.case_id}: field event_id {event_id} is already recorded "
        "for another case; an event_id names one event — send a new one", "event_id", event_id)
    log.info("event.rejected", case_id=env.case_id, event_id=event_id, codes=[rejection.code])
    return AppendOutcome(index, "rejected", env.case_id, event_id, rejections=(rejection,))


def _unjudged(index: int, case_id: str | None, event_id: str | None, exc: Exception
              ) -> AppendOutcome:
    """An envelope the engine failed to judge (a defect): refused alone, and logged."""
    log.error("event.unjudged", case_id=case_id, event_id=event_id, error=type(exc).__name__,
              exc_info=exc)
    rejection = Rejection(
        "SCHEMA_INVALID", f"{f'case {case_id}: ' if case_id else ''}the engine could not judge "
        f"this envelope ({type(exc).__name__}) and did not append it; the server log has the "
        "details — please report it with the event_id", None, None)
    return AppendOutcome(index, "rejected", case_id, event_id, rejections=(rejection,))


def _decision_row(file: CaseFile, record: dict[str, Any]) -> dict[str, Any]:
    """The subject-index row of a penalty decision (the file already holds the filing)."""
    penalties = record["payload"]["penalties"]
    fine = amount_of(penalties, "fine")
    subject = file.subject or {}
    decided_on = datetime.fromisoformat(record["occurred_at"]).astimezone(SHANGHAI).date()
    act_date = date.fromisoformat(file.act_date) if file.act_date else decided_on
    return {"subject_id": str(subject.get("id", "")), "case_id": record["case_id"],
            "item_code": file.item_code or "", "act_date": act_date, "decided_on": decided_on,
            "fined": fine > 0, "fine": fine}


def _restore_problems(file: CaseFile, env: Envelope, record: dict[str, Any],
                      recorded: str | None) -> list[Rejection]:
    problems = []
    where = f"case {env.case_id}"
    if env.seq != file.seq + 1:
        problems.append(Rejection(
            "HASH_MISMATCH", f"{where}: field seq is {env.seq} but the next seq of the case is "
            f"{file.seq + 1}; events are missing, repeated or out of order", "seq", env.seq))
    if env.prev_hash != file.head_hash:
        problems.append(Rejection(
            "HASH_MISMATCH", f"{where} seq {env.seq}: field prev_hash is {env.prev_hash} but the "
            f"case's last hash is {file.head_hash}; the chain is broken", "prev_hash",
            env.prev_hash))
    if recorded is None:
        problems.append(Rejection("SCHEMA_INVALID", f"{where}: field recorded_at is required "
                                  "with hash (a restored export)", "recorded_at", None))
    return problems


def _with_position(record: dict[str, Any], position: int) -> dict[str, Any]:
    out = {k: v for k, v in record.items() if k not in ("seq", "recorded_at", "prev_hash",
                                                         "hash")}
    out.update(seq=record["seq"], position=position, recorded_at=record["recorded_at"],
               prev_hash=record["prev_hash"], hash=record["hash"])
    return out
