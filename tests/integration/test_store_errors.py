"""Database errors reach callers as the library's errors; batches settle whatever happens."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from eventsourcing import persistence
from structlog.testing import capture_logs

from casechain.adapters.logging import configure_logging
from casechain.adapters.storage import map_db_errors
from casechain.application.case_log import CaseLog
from tests.factories import case_walk, envelope

PEP249 = ["IntegrityError", "DataError", "OperationalError", "ProgrammingError",
          "InternalError", "NotSupportedError", "InterfaceError", "DatabaseError"]


@pytest.mark.parametrize("driver", [sqlite3, psycopg], ids=["sqlite3", "psycopg"])
@pytest.mark.parametrize("name", PEP249)
def test_every_driver_error_maps_to_the_library_error_of_the_same_name(driver: object,
                                                                        name: str) -> None:
    """A PEP 249 error raised by either driver comes out as eventsourcing's own class."""
    raised = getattr(driver, name)
    with pytest.raises(getattr(persistence, name)), map_db_errors():
        raise raised("boom")


def test_other_exceptions_pass_through_unchanged() -> None:
    """Mapping touches database errors only."""
    with pytest.raises(KeyError), map_db_errors():
        raise KeyError("x")


def test_an_import_stopped_midway_keeps_what_was_committed(sqlite_url: str) -> None:
    """Closing the outcome stream early still settles the batch in flight; nothing is lost."""
    log = CaseLog(sqlite_url)
    walk = case_walk("A") + case_walk("B")
    try:
        outcomes = log.append_many(walk, batch_size=5)
        first = next(outcomes)
        outcomes.close()
        assert first.status == "appended"
        stored = list(log.export())
        assert len(stored) in (5, 10)  # the first batch, and the one in flight if it started
        resumed = list(log.append_many(walk, batch_size=5))
        assert len(list(log.export())) == 36
        assert sum(o.status == "duplicate" for o in resumed) == len(stored)
    finally:
        log.close()


def test_a_failed_commit_is_reported_and_the_case_heads_are_reloaded(sqlite_url: str) -> None:
    """If the database refuses a commit, the caller gets the error and later appends
    start again from what the store really holds."""
    log = CaseLog(sqlite_url)
    try:
        log.append(envelope(case_id="A"))
        real_commit = log.store.begin_write

        def failing_begin() -> object:
            tx = real_commit()

            def refuse() -> None:
                tx.rollback()
                raise persistence.OperationalError("disk I/O error")

            tx.commit = refuse  # type: ignore[method-assign]
            return tx

        log.store.begin_write = failing_begin  # type: ignore[method-assign]
        with pytest.raises(persistence.OperationalError, match="disk I/O error"):
            log.append(envelope("penalty.evidence_collected", case_id="A"))
        log.store.begin_write = real_commit  # type: ignore[method-assign]
        assert log.append(envelope("penalty.evidence_collected", case_id="A")).seq == 2
    finally:
        log.close()


def test_every_log_line_of_an_append_names_the_case_and_the_event(sqlite_url: str) -> None:
    """Appended, duplicate and rejected events are logged with case_id and event_id."""
    log = CaseLog(sqlite_url)
    first = envelope(case_id="A")
    configure_logging("json", "debug")
    try:
        with capture_logs() as logs:
            list(log.append_many([first, first, envelope("penalty.fined", case_id="A")]))
    finally:
        configure_logging("json", "warning")
        log.close()
    events = [entry for entry in logs if entry["event"].startswith("event.")]
    assert sorted(entry["event"] for entry in events) == [
        "event.appended", "event.duplicate", "event.rejected"]
    assert all(entry["case_id"] == "A" and entry["event_id"] for entry in events)


def test_a_connection_lost_inside_a_batch_is_the_librarys_error(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database error while a batch is checked under the write lock (the connection lost
    mid-transaction) reaches the caller as eventsourcing's OperationalError — what the
    Kafka consumer and the HTTP API treat as "the store is down" — and the batch is rolled
    back, so the same events append once the store is back."""
    from sqlalchemy.engine import Connection

    log = CaseLog(sqlite_url)
    try:
        real_execute = Connection.execute

        def lost(self: Connection, statement: object, *args: object, **kwargs: object) -> object:
            if "event_id IN" in str(statement):  # the duplicate check under the write lock
                raise sqlite3.OperationalError("disk I/O error")
            return real_execute(self, statement, *args, **kwargs)  # type: ignore[arg-type]

        with monkeypatch.context() as patch:
            patch.setattr(Connection, "execute", lost)
            with pytest.raises(persistence.OperationalError, match="disk I/O error"):
                list(log.append_many(case_walk("A")))
        assert {o.status for o in log.append_many(case_walk("A"))} == {"appended"}
    finally:
        log.close()
