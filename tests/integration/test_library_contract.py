"""Our recorders pass the eventsourcing library's own recorder contract suites."""

from __future__ import annotations

import tempfile
import threading
import uuid
from pathlib import Path
from typing import ClassVar

import pytest
import sqlalchemy as sa
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.tests.persistence import (
    AggregateRecorderTestCase,
    ApplicationRecorderTestCase,
    NonInterleavingNotificationIDsBaseCase,
    ProcessRecorderTestCase,
    TrackingRecorderTestCase,
)

from casechain.adapters.storage import (
    CaseChainAggregateRecorder,
    CaseChainRecorder,
    create_store_engine,
)
from tests.pg import create_database, drop_database

_PG_URL: str | None = None


def setUpModule() -> None:
    global _PG_URL
    _PG_URL = create_database()


def tearDownModule() -> None:
    if _PG_URL is not None:
        drop_database(_PG_URL)


def _join_stray_threads() -> None:
    # The library's concurrency tests leave their reader threads to finish on their own;
    # wait for them so no connection is still checked out when the engine is disposed.
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join(timeout=10)


class SQLiteStore:
    """Each test gets a fresh SQLite file."""

    recorder_class: type[CaseChainRecorder] = CaseChainRecorder

    def create_recorder(self) -> CaseChainRecorder:
        self._dir = tempfile.TemporaryDirectory()
        engine = create_store_engine(f"sqlite:///{Path(self._dir.name) / 'store.db'}")
        self._engines = [*getattr(self, "_engines", []), engine]
        recorder = self.recorder_class(engine)
        recorder.create_table()
        return recorder

    def tearDown(self) -> None:
        _join_stray_threads()
        for engine in getattr(self, "_engines", []):
            engine.dispose()
        if hasattr(self, "_dir"):
            self._dir.cleanup()
        super().tearDown()  # type: ignore[misc]


class PostgresStore:
    """Each test gets empty tables in the module's throw-away database."""

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.postgres]

    recorder_class: type[CaseChainRecorder] = CaseChainRecorder

    def create_recorder(self) -> CaseChainRecorder:
        assert _PG_URL is not None
        engine = create_store_engine(_PG_URL)
        self._engines = [*getattr(self, "_engines", []), engine]
        recorder = self.recorder_class(engine)
        with engine.begin() as conn:
            recorder.tables.metadata.drop_all(conn)
        recorder.create_table()
        return recorder

    def tearDown(self) -> None:
        _join_stray_threads()
        for engine in getattr(self, "_engines", []):
            engine.dispose()
        super().tearDown()  # type: ignore[misc]


class TestSQLiteAggregateRecorder(SQLiteStore, AggregateRecorderTestCase):
    """Library contract: aggregate recorder on SQLite."""

    recorder_class = CaseChainAggregateRecorder


class TestSQLiteApplicationRecorder(SQLiteStore, ApplicationRecorderTestCase[CaseChainRecorder]):
    """Library contract: application recorder on SQLite."""

    def test_insert_subscribe(self) -> None:
        """Library contract: subscriptions see every event in order (polling on SQLite)."""
        self.optional_test_insert_subscribe()


class TestSQLiteTrackingRecorder(SQLiteStore, TrackingRecorderTestCase):
    """Library contract: tracking recorder on SQLite."""


class TestSQLiteProcessRecorder(SQLiteStore, ProcessRecorderTestCase):
    """Library contract: process recorder on SQLite."""


class TestSQLiteNonInterleaving(SQLiteStore, NonInterleavingNotificationIDsBaseCase):
    """Library contract: concurrent batches get non-interleaved positions on SQLite."""


class TestPostgresAggregateRecorder(PostgresStore, AggregateRecorderTestCase):
    """Library contract: aggregate recorder on PostgreSQL."""

    recorder_class = CaseChainAggregateRecorder


class TestPostgresApplicationRecorder(PostgresStore,
                                      ApplicationRecorderTestCase[CaseChainRecorder]):
    """Library contract: application recorder on PostgreSQL."""

    def test_insert_subscribe(self) -> None:
        """Library contract: subscriptions see every event in order on PostgreSQL."""
        self.optional_test_insert_subscribe()


class TestPostgresTrackingRecorder(PostgresStore, TrackingRecorderTestCase):
    """Library contract: tracking recorder on PostgreSQL."""


class TestPostgresProcessRecorder(PostgresStore, ProcessRecorderTestCase):
    """Library contract: process recorder on PostgreSQL."""


class TestPostgresNonInterleaving(PostgresStore, NonInterleavingNotificationIDsBaseCase):
    """Library contract: concurrent batches get non-interleaved positions on PostgreSQL."""


def test_positions_have_no_gaps_after_a_failed_batch() -> None:
    """A batch rejected by the database leaves no hole in the global positions."""
    with tempfile.TemporaryDirectory() as folder:
        engine = create_store_engine(f"sqlite:///{folder}/s.db")
        recorder = CaseChainRecorder(engine)
        recorder.create_table()
        stream = uuid.uuid4()
        recorder.insert_events([StoredEvent(stream, 1, "t", b"{}")])
        with pytest.raises(IntegrityError):
            recorder.insert_events([StoredEvent(uuid.uuid4(), 1, "t", b"{}"),
                                    StoredEvent(stream, 1, "t", b"{}")])
        recorder.insert_events([StoredEvent(stream, 2, "t", b"{}")])
        with engine.connect() as conn:
            positions = list(conn.execute(sa.text("SELECT position FROM casechain_events "
                                                  "ORDER BY position")).scalars())
        engine.dispose()
    assert positions == [1, 2]
