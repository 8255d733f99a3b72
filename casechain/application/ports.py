"""The port the case log speaks to its store through: records in, records out.

The application never sees a row, a connection or the stored-event encoding: it asks for
case heads and streams as records, hands over records (with their canonical JSON, as
hashed) to be written in a transaction it commits or rolls back, and reads records back
with their positions. `casechain.adapters.event_store.SqlEventStore` is the adapter on
SQLAlchemy (SQLite, PostgreSQL); a store that cannot be reached raises `StoreUnavailable`,
a conflict with another writer the library's `IntegrityError` (the batch is tried again).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from casechain.domain.subjects import SubjectDecision

__all__ = ["EventStore", "EventStoreFactory", "Transaction", "WriteTransaction"]


class Transaction(Protocol):
    """An open transaction of the store (what it holds is the adapter's business)."""


class WriteTransaction(Transaction, Protocol):
    """A write transaction holding the log's write lock: exactly one `commit` or `rollback`
    (either may be called from another thread)."""

    def commit(self) -> None:
        """Commit and release."""
        ...

    def rollback(self) -> None:
        """Roll back and release."""
        ...


class EventStore(Protocol):
    """The case log's store."""

    #: True where writing the rows waits on a server (PostgreSQL): the case log hands the
    #: insert to its committer thread too, not only the commit.
    insert_waits_on_server: bool

    def begin_write(self) -> WriteTransaction:
        """Start a write transaction holding the log's write lock."""
        ...

    def reading(self) -> AbstractContextManager[Transaction]:
        """A read-only transaction."""
        ...

    def heads(self, tx: Transaction, case_ids: Sequence[str]) -> dict[str, int]:
        """The last seq of each of these cases that has events."""
        ...

    def streams(self, tx: Transaction, case_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Every record of each of these cases that has events, in seq order."""
        ...

    def existing_event_ids(self, tx: Transaction, event_ids: Sequence[str]) -> dict[str, UUID]:
        """Those of these event ids already stored, each with its case's stream id."""
        ...

    def encoded(self, case_id: str, seq: int, canonical: bytes, digest: str,
                recorded_at: str) -> object:
        """A record ready to insert, from its canonical JSON as hashed (serialised once)."""
        ...

    def insert(self, tx: WriteTransaction, events: Sequence[object],
               event_ids: Sequence[str | None],
               decisions: Sequence[tuple[int, dict[str, Any]]] = ()) -> list[int]:
        """Insert `encoded` records in order and the subject index's rows of the penalty
        decisions among them (index into `events`, row); the positions given."""
        ...

    def note_appended(self, count: int) -> None:
        """`count` events were committed (the store may bring its statistics up to date)."""
        ...

    def case_records(self, case_id: str) -> list[tuple[int, dict[str, Any]]]:
        """(position, record) of every event of a case, in seq order."""
        ...

    def records_after(self, start: int, limit: int, stop: int | None = None
                      ) -> list[tuple[int, dict[str, Any]]]:
        """(position, record) of the events after `start` (up to `stop`), in order."""
        ...

    def subject_decisions(self, subject_id: str) -> list[SubjectDecision]:
        """Every penalty decision on a subject, across cases, in log order."""
        ...


@runtime_checkable
class EventStoreFactory(Protocol):
    """What the library's infrastructure factory must also give: the case log's store."""

    def case_store(self) -> EventStore:
        """The store of the application's recorder."""
        ...
