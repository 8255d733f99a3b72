"""The case log's store on SQLAlchemy Core: `casechain.application.ports.EventStore`, and
the library's infrastructure factory that gives it (`Factory`).

Records in, records out: the stored-event encoding (`codec`) and the tables stay here. It
works on the recorder's engine and tables (`CaseChainRecorder`), so the library's
repository, the views and the ledger read what it writes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from eventsourcing.persistence import InfrastructureFactory, StoredEvent
from eventsourcing.utils import Environment
from sqlalchemy.engine import Connection

from casechain.adapters import codec
from casechain.adapters.storage import (
    CaseChainAggregateRecorder,
    CaseChainRecorder,
    StoreTables,
    WriteTransaction,
    create_store_engine,
    map_db_errors,
)
from casechain.batching import one_of
from casechain.domain.case import case_uuid
from casechain.domain.subjects import SubjectDecision
from casechain.errors import ConfigurationError

__all__ = ["Factory", "SqlEventStore"]


class _Reading:
    """A read transaction (the port's `Transaction`)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn


class SqlEventStore:
    """The case log's records in the recorder's tables."""

    def __init__(self, recorder: CaseChainRecorder) -> None:
        self.recorder = recorder
        self.insert_waits_on_server = recorder.is_postgres
        self._events = recorder.tables.events
        self._decisions = recorder.tables.subject_decisions

    # -- transactions ---------------------------------------------------------------
    def begin_write(self) -> WriteTransaction:
        """Start a write transaction holding the events table's write lock."""
        return self.recorder.begin_write()

    @contextmanager
    def reading(self) -> Iterator[_Reading]:
        """A read-only transaction."""
        with self.recorder.read() as conn:
            yield _Reading(conn)

    # -- case heads -------------------------------------------------------------------
    def heads(self, tx: Any, case_ids: Sequence[str]) -> dict[str, int]:
        """The last seq of each of these cases that has events."""
        c = self._events.c
        by_stream = {case_uuid(cid): cid for cid in case_ids}
        heads: dict[str, int] = {}
        with map_db_errors():
            for condition in one_of(tx.conn, c.originator_id, list(by_stream)):
                query = (sa.select(c.originator_id, sa.func.max(c.originator_version))
                         .where(condition).group_by(c.originator_id))
                heads.update({by_stream[row[0]]: int(row[1]) for row in tx.conn.execute(query)})
        return heads

    def streams(self, tx: Any, case_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Every record of each of these cases that has events, in seq order."""
        c = self._events.c
        by_stream = {case_uuid(cid): cid for cid in case_ids}
        found: dict[str, list[dict[str, Any]]] = {}
        with map_db_errors():
            for condition in one_of(tx.conn, c.originator_id, list(by_stream)):
                query = (sa.select(c.originator_id, c.state).where(condition)
                         .order_by(c.originator_id, c.originator_version))
                for stream, state in tx.conn.execute(query):
                    found.setdefault(by_stream[stream], []).append(
                        codec.decode_record(bytes(state)))
        return found

    def existing_event_ids(self, tx: Any, event_ids: Sequence[str]) -> dict[str, UUID]:
        """Those of these event ids already stored, each with its case's stream id."""
        c = self._events.c
        present: dict[str, UUID] = {}
        with map_db_errors():
            for condition in one_of(tx.conn, c.event_id, event_ids):
                present.update(tuple(row) for row in tx.conn.execute(
                    sa.select(c.event_id, c.originator_id).where(condition)))
        return present

    # -- writing ----------------------------------------------------------------------
    def encoded(self, case_id: str, seq: int, canonical: bytes, digest: str,
                recorded_at: str) -> StoredEvent:
        """A record ready to insert, from its canonical JSON as hashed."""
        return codec.encode_canonical(case_id, seq, canonical, digest, recorded_at)

    def insert(self, tx: WriteTransaction, events: Sequence[object],
               event_ids: Sequence[str | None],
               decisions: Sequence[tuple[int, dict[str, Any]]] = ()) -> list[int]:
        """Insert the records and the subject index's rows of their penalty decisions."""
        stored = [e for e in events if isinstance(e, StoredEvent)]
        assert len(stored) == len(events), "insert takes what `encoded` returned"
        with map_db_errors():
            positions = self.recorder.insert_in(tx.conn, stored, event_ids=event_ids)
            if decisions:
                tx.conn.execute(self._decisions.insert(),
                                [{**row, "position": positions[n]} for n, row in decisions])
        return positions

    def note_appended(self, count: int) -> None:
        """`count` events were committed: the recorder keeps the planner's statistics."""
        self.recorder.note_appended(count)

    # -- reading ----------------------------------------------------------------------
    def case_records(self, case_id: str) -> list[tuple[int, dict[str, Any]]]:
        """(position, record) of every event of a case, in seq order."""
        c = self._events.c
        with self.recorder.read() as conn:
            rows = conn.execute(sa.select(c.position, c.state)
                                .where(c.originator_id == case_uuid(case_id))
                                .order_by(c.originator_version)).all()
        return [(position, codec.decode_record(bytes(state))) for position, state in rows]

    def records_after(self, start: int, limit: int, stop: int | None = None
                      ) -> list[tuple[int, dict[str, Any]]]:
        """(position, record) of the events after `start` (up to `stop`), in order."""
        return self.recorder.records_after(start, limit, stop)

    def subject_decisions(self, subject_id: str) -> list[SubjectDecision]:
        """Every penalty decision on a subject, across cases, in log order."""
        t = self._decisions.c
        with self.recorder.read() as conn:
            rows = conn.execute(sa.select(t.subject_id, t.case_id, t.item_code, t.act_date,
                                          t.decided_on, t.fined, t.fine)
                                .where(t.subject_id == subject_id).order_by(t.position)).all()
        return [SubjectDecision(*row) for row in rows]


class Factory(InfrastructureFactory[CaseChainRecorder]):
    """eventsourcing infrastructure factory: `PERSISTENCE_MODULE=casechain.adapters.event_store:Factory`.

    Reads `DB_URL` (the case log always sets it) from the application environment.
    """

    DB_URL = "DB_URL"

    def __init__(self, env: Environment | None) -> None:
        super().__init__(env)
        url = self.env.get(self.DB_URL)
        if not url:
            raise ConfigurationError("DB_URL: no store URL in the application's environment")
        self.engine = create_store_engine(url)
        self._recorder: CaseChainRecorder | None = None

    def _shared_recorder(self) -> CaseChainRecorder:
        if self._recorder is None:
            prefix = (self.env.name or "casechain").lower()
            self._recorder = CaseChainRecorder(self.engine, StoreTables(prefix))
            self._recorder.create_table()
        return self._recorder

    def aggregate_recorder(self, purpose: str = "events") -> CaseChainAggregateRecorder:
        prefix = (self.env.name or "casechain").lower()
        recorder = CaseChainAggregateRecorder(self.engine, StoreTables(f"{prefix}_{purpose}"))
        recorder.create_table()
        return recorder

    def application_recorder(self) -> CaseChainRecorder:
        return self._shared_recorder()

    def tracking_recorder(self, tracking_recorder_class: type[CaseChainRecorder] | None = None
                          ) -> CaseChainRecorder:
        return self._shared_recorder()

    def process_recorder(self) -> CaseChainRecorder:
        return self._shared_recorder()

    def case_store(self) -> SqlEventStore:
        """The case log's store (`application.ports.EventStore`) on the shared recorder."""
        return SqlEventStore(self._shared_recorder())

    def close(self) -> None:
        self.engine.dispose()
