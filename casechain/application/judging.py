"""Judging a batch of envelopes: parse each, then, under the store's write lock, decide each
one against the case as recorded — duplicates and reused event ids, the bounds of the clock,
the caller's authority (a guard), the case's jurisdiction, the rule book, optimistic
concurrency, a restored export's chain — and build the records to store, hashed.

Used by `CaseLog` (application.case_log); kept apart so that each of the two reads alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import structlog

from casechain.application.ports import EventStore, Transaction
from casechain.domain.bounds import EARLIEST, FUTURE_SKEW
from casechain.domain.calendar import SHANGHAI
from casechain.domain.case import CaseFile, case_uuid
from casechain.domain.envelope import Envelope, parse_envelope
from casechain.domain.hashing import CanonicalJSONError, record_hash
from casechain.domain.jurisdiction import check_jurisdiction
from casechain.domain.law import amount_of
from casechain.domain.payloads import PAYLOADS
from casechain.domain.rules import RuleBook
from casechain.errors import EventRejected, Rejection

__all__ = ["AppendOutcome", "BatchJudge", "Guard", "parse_batch"]

log = structlog.get_logger("casechain.append")


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
    #: The cases its envelopes append to (see `batch_cases`).
    cases: set[str] = field(default_factory=set)


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
    stored: list[object]  # what the store encoded
    stored_ids: list[str | None]
    appended: list[tuple[int, str, str, int]]
    working: dict[str, CaseFile]
    decisions: list[tuple[int, dict[str, Any]]]


@dataclass
class _InFlight:
    commit: Future[list[int]]
    checked: _Checked
    parsed: _Batch


def parse_batch(raws: Sequence[object], offset: int, guard: Guard | None) -> _Batch:
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
        batch.cases.add(envelope.case_id)
    return batch


def batch_cases(batch: _Batch) -> set[str]:
    """The cases a batch's envelopes append to (a copy: the callers take from it)."""
    return set(batch.cases)


def devices_to_load(batch: _Batch, files: dict[str, CaseFile]) -> set[str]:
    """The device streams a batch's decisions may rest on (APL Art. 41): the devices of the
    captures of its cases, stored or in the batch itself, not loaded yet."""
    wanted: set[str] = set()
    for pending in batch.pending:
        env = pending.envelope
        if env.type in _NAMING_A_DEVICE:  # asking any payload costs pydantic an exception
            device_id = env.payload.device_id
            if device_id:
                wanted.add(str(device_id))
    for case_id in batch.cases:
        file = files.get(case_id)
        if file is not None and file.captures:
            wanted.update(file.captures)
    return wanted - files.keys()


#: The event types whose payload may name a device.
_NAMING_A_DEVICE = frozenset(event_type for event_type, model in PAYLOADS.items()
                             if "device_id" in model.model_fields)


class BatchJudge:
    """Decides each envelope of a batch against the case heads loaded under the write lock."""

    def __init__(self, store: EventStore, rules: RuleBook,
                 clock: Callable[[], datetime]) -> None:
        self.store, self.rules, self._clock = store, rules, clock

    def check(self, batch: _Batch, tx: Transaction, files: dict[str, CaseFile],
              in_flight: Mapping[str, UUID] | None = None) -> _Checked:
        """Judge the batch against `files`; `in_flight`: event ids (with their streams)
        appended by a batch judged but not yet committed, which this one is judged after."""
        outcomes = dict(batch.outcomes)
        ids = [p.event_id for p in batch.pending]
        seen = self.store.existing_event_ids(tx, ids) if ids else {}
        if in_flight:
            seen.update((event_id, in_flight[event_id]) for event_id in ids
                        if event_id in in_flight)
        working = {case_id: file.copy() for case_id, file in files.items()}
        stored: list[object] = []
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
                record, rejections = self._prepare(file, env, now, batch.guard, item.index,
                                                   working)
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
            stored.append(self.store.encoded(env.case_id, record["seq"], canonical,
                                                 record["hash"], record["recorded_at"]))
            stored_ids.append(event_id)
            file.apply(record)
            seen[event_id] = case_uuid(env.case_id)
            appended.append((item.index, env.case_id, event_id, record["seq"]))
            if env.type == "penalty.decided" and record["payload"]["outcome"] == "penalty":
                checked_decisions.append((len(stored) - 1, _decision_row(file, record)))
        return _Checked(outcomes, stored, stored_ids, appended, working, checked_decisions)

    def _prepare(self, file: CaseFile, env: Envelope, now: _Now, guard: Guard | None,
                 index: int, related: dict[str, CaseFile]
                 ) -> tuple[dict[str, Any] | None, list[Rejection]]:
        if env.hash is not None or env.occurred_at > now.latest:  # rare: look closer
            rejections = _future_problems(env, now)
            if rejections:  # the rules would compute with an instant nobody has reached
                return None, rejections
        if guard is not None:
            refused = guard(index, env, file.jurisdiction if file.seq else None)
            if refused:  # the caller learns nothing of a case it may not touch
                return None, refused
        rejections = check_jurisdiction(file, env)
        rejections += self.rules.check(file, env, related)
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
