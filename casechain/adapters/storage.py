"""The event store: eventsourcing recorders written on SQLAlchemy Core.

Why our own recorders rather than eventsourcing-sqlalchemy's: theirs go through the ORM
and flush event by event, which is where a batched import spends its time (PERFORMANCE.md,
"Where the time goes", 3). These recorders keep the library's contract — they pass the
library's own recorder test suites, see tests/integration/test_library_contract.py — and add:

* `event_id` stored in its own unique column, so idempotency holds across processes and
  restarts, enforced by the database, not by a cache;
* gap-free global positions: a writer takes the table's write lock (PostgreSQL
  `LOCK TABLE ... IN EXCLUSIVE MODE`, SQLite `BEGIN IMMEDIATE`) and numbers its rows from
  `MAX(position) + 1`, so a rolled-back transaction leaves no hole and positions are
  committed in order (a reader never sees position n+1 before n);
* batch inserts with `executemany`, one transaction per batch;
* a polling subscription on both databases (SQLite has no LISTEN/NOTIFY).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID

import sqlalchemy as sa
import structlog
from eventsourcing.persistence import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    ListenNotifySubscription,
    Notification,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProcessRecorder,
    ProgrammingError,
    StoredEvent,
    Subscription,
    Tracking,
)
from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from casechain.adapters import codec
from casechain.errors import STORE_DOWN, StoreError, StoreUnavailable

__all__ = [
    "SCHEMA_LOCK",
    "STORE_DOWN",
    "CaseChainAggregateRecorder",
    "CaseChainRecorder",
    "StoreTables",
    "WriteTransaction",
    "create_store_engine",
    "map_db_errors",
    "missing_sqlite_file",
]


log = structlog.get_logger("casechain.store")

#: PostgreSQL advisory lock held while tables are created or reshaped (concurrent first
#: starts of the store or of the views would race on CREATE TABLE IF NOT EXISTS).
SCHEMA_LOCK = 7206534
#: Fewest rows appended before the events table's planner statistics are taken again (see
#: `CaseChainRecorder.note_appended`).
STATISTICS_FLOOR = 10_000
#: The connection a thread's reads share inside `CaseChainRecorder.one_connection()`.
_SHARED_READS: ContextVar[tuple[object, Connection] | None] = ContextVar(
    "casechain_shared_reads", default=None)

# The store's errors are CaseChain's (one error tree: StoreError, StoreUnavailable) and the
# eventsourcing library's own classes at once, so that the library's code, which catches its
# classes, and ours, which catches ours, both see what they expect.
class StoreIntegrityError(StoreError, IntegrityError):
    """A unique constraint held: another writer got the same case seq or event id in."""


class StoreDataError(StoreError, DataError):
    """The database refused a value."""


class StoreOperationalError(StoreUnavailable, OperationalError):
    """The store cannot be reached, the connection was lost, or it is not the store opened."""


class StoreProgrammingError(StoreError, ProgrammingError):
    """A statement the database does not know (its tables missing, say)."""


class StoreInternalError(StoreError, InternalError):
    """The database failed inside."""


class StoreNotSupportedError(StoreError, NotSupportedError):
    """The database cannot do what was asked."""


class StoreInterfaceError(StoreUnavailable, InterfaceError):
    """The driver lost or could not use its connection."""


class StoreDatabaseError(StoreError, DatabaseError):
    """Any other database error."""


_ERROR_MAP: tuple[tuple[type[sa_exc.DBAPIError], type[PersistenceError]], ...] = (
    (sa_exc.IntegrityError, StoreIntegrityError),
    (sa_exc.DataError, StoreDataError),
    (sa_exc.OperationalError, StoreOperationalError),
    (sa_exc.ProgrammingError, StoreProgrammingError),
    (sa_exc.InternalError, StoreInternalError),
    (sa_exc.NotSupportedError, StoreNotSupportedError),
    (sa_exc.InterfaceError, StoreInterfaceError),
    (sa_exc.DatabaseError, StoreDatabaseError),
)


#: PEP 249 exception names, as every driver (sqlite3, psycopg) names its classes.
_PEP249: dict[str, type[PersistenceError]] = {
    "IntegrityError": StoreIntegrityError, "DataError": StoreDataError,
    "OperationalError": StoreOperationalError, "ProgrammingError": StoreProgrammingError,
    "InternalError": StoreInternalError, "NotSupportedError": StoreNotSupportedError,
    "InterfaceError": StoreInterfaceError, "DatabaseError": StoreDatabaseError,
}


@contextmanager
def map_db_errors() -> Iterator[None]:
    """Re-raise database errors (through SQLAlchemy, or straight from the driver on the COPY
    path) as CaseChain's store errors, which are the eventsourcing library's classes too."""
    try:
        yield
    except sa_exc.DBAPIError as exc:
        for sa_type, our_type in _ERROR_MAP:
            if isinstance(exc, sa_type):
                raise our_type(str(exc.orig)) from exc
        raise PersistenceError(str(exc)) from exc  # pragma: no cover - map is exhaustive
    except PersistenceError:
        raise
    except Exception as exc:
        for cls in type(exc).__mro__:
            if cls.__name__ in _PEP249 and cls.__module__.split(".")[0] in _DRIVERS:
                raise _PEP249[cls.__name__](str(exc)) from exc
        raise


_DRIVERS = {"sqlite3", "psycopg"}


def create_store_engine(url: str) -> Engine:
    """An engine for the store: SQLite in WAL mode with write locks taken up front, or
    PostgreSQL through psycopg 3."""
    sa_url = sa.make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        return _sqlite_engine(sa_url)
    if sa_url.get_backend_name() == "postgresql":
        if sa_url.drivername == "postgresql":
            sa_url = sa_url.set(drivername="postgresql+psycopg")
        return _postgres_engine(sa_url)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or "
                     f"postgresql+psycopg://USER@HOST/DB")


def _postgres_engine(sa_url: sa.URL) -> Engine:
    """PostgreSQL through psycopg 3. Every new connection checks that the database is the one
    the process first opened (its oid): a database dropped and created again under a running
    server — even one given the tables again — fails as the store being unreachable
    (STORE_DOWN) instead of being served as if it were the same store."""
    # Every statement planned for its own values (`plan_cache_mode`): psycopg prepares a
    # statement run five times on a connection, and PostgreSQL would then plan it once for
    # any values — a listing asked city-wide, then by a district, kept the city's plan with
    # `jurisdiction LIKE $1` read as no prefix: a district's page of alerts twice as slow.
    engine = sa.create_engine(sa_url, pool_size=10, max_overflow=20, pool_pre_ping=True,
                              connect_args={"options": "-c plan_cache_mode=force_custom_plan"})
    first: list[int] = []

    @sa_event.listens_for(engine, "connect")
    def _same_database(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute("SELECT oid FROM pg_database WHERE datname = current_database()")
            oid = int(cursor.fetchone()[0])
        finally:
            cursor.close()
        dbapi_conn.commit()
        if not first:
            first.append(oid)
        elif first[0] != oid:
            import psycopg  # the driver's own class: map_db_errors maps it like any outage
            raise psycopg.OperationalError(
                f"the PostgreSQL database {sa_url.database} was dropped and created again "
                "while this process had it open: restart it on the restored store")

    return engine


def missing_sqlite_file(url: str) -> str | None:
    """The path of a SQLite store URL whose file does not exist yet; None otherwise (an
    existing file, an in-memory store, PostgreSQL)."""
    sa_url = sa.make_url(url)
    if sa_url.get_backend_name() != "sqlite" or sa_url.database in (None, "", ":memory:"):
        return None
    path = str(sa_url.database)
    return None if os.path.exists(path) else path


class _FileIdentity:
    """The SQLite file a running process opened. Deleted or replaced under it, the open
    connections would go on writing into the unlinked file and answer as if all were well:
    every transaction first checks the path still names the same file (one stat, ~2 µs) and
    fails as the store being unreachable (STORE_DOWN) when it does not."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.seen: tuple[int, int] | None = None

    def check(self) -> None:
        if self.path is None:
            return
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            if self.seen is None:
                return  # not created yet: the first connection creates it
            raise sqlite3.OperationalError(f"the SQLite store {self.path} is gone: it was "
                                           "deleted while this process had it open") from None
        now = (stat.st_dev, stat.st_ino)
        if self.seen is None:
            self.seen = now
        elif now != self.seen:
            raise sqlite3.OperationalError(f"the SQLite store {self.path} was replaced by "
                                           "another file while this process had it open")


def _sqlite_engine(sa_url: sa.URL) -> Engine:
    in_memory = sa_url.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 60}}
    if in_memory:
        kwargs["poolclass"] = StaticPool
    engine = sa.create_engine(sa_url, **kwargs)

    @sa_event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA busy_timeout=60000")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: the indexes of a large log stay hot
        cursor.close()

    identity = _FileIdentity(None if in_memory else str(sa_url.database))

    @sa_event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        identity.check()
        immediate = conn.get_execution_options().get("casechain_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    if in_memory:
        # One shared connection: serialise its use across threads.
        lock = threading.RLock()

        @sa_event.listens_for(engine, "checkout")
        def _on_checkout(*_: Any) -> None:
            lock.acquire()

        @sa_event.listens_for(engine, "checkin")
        def _on_checkin(*_: Any) -> None:
            lock.release()
    return engine


class StoreTables:
    """The store's tables, named after the application (default `casechain`)."""

    def __init__(self, prefix: str = "casechain") -> None:
        self.metadata = sa.MetaData()
        big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
        self.events = sa.Table(
            f"{prefix}_events", self.metadata,
            sa.Column("position", big, primary_key=True, autoincrement=False),
            sa.Column("originator_id", sa.Uuid(), nullable=False),
            sa.Column("originator_version", big, nullable=False),
            sa.Column("topic", sa.Text(), nullable=False),
            sa.Column("state", sa.LargeBinary(), nullable=False),
            sa.Column("event_id", sa.String(36), nullable=True),
            sa.Index(f"{prefix}_events_stream", "originator_id", "originator_version",
                     unique=True),
            sa.Index(f"{prefix}_events_event_id", "event_id", unique=True),
        )
        self.tracking = sa.Table(
            f"{prefix}_tracking", self.metadata,
            sa.Column("application_name", sa.String(64), primary_key=True),
            sa.Column("notification_id", big, nullable=False),
        )
        # Derived from penalty.decided events, written in the same transaction as the event
        # (keyed by its position), so it is exactly as current as the log and rebuildable.
        self.subject_decisions = sa.Table(
            f"{prefix}_subject_decisions", self.metadata,
            sa.Column("position", big, primary_key=True, autoincrement=False),
            sa.Column("subject_id", sa.String(128), nullable=False),
            sa.Column("case_id", sa.String(64), nullable=False),
            sa.Column("item_code", sa.String(64), nullable=False),
            sa.Column("act_date", sa.Date(), nullable=False),
            sa.Column("decided_on", sa.Date(), nullable=False),
            sa.Column("fined", sa.Boolean(), nullable=False),
            sa.Column("fine", sa.Float(), nullable=False),
            sa.Index(f"{prefix}_subject_decisions_subject", "subject_id"),
        )


class WriteTransaction:
    """An open write transaction: `conn` to work in, then exactly one `commit` or `rollback`
    (each closes the connection)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def commit(self) -> None:
        """Commit and release the connection."""
        self._end(self.conn.commit)

    def rollback(self) -> None:
        """Roll back and release the connection."""
        self._end(self.conn.rollback)

    def _end(self, action: Callable[[], None]) -> None:
        try:
            with map_db_errors():
                action()
        finally:
            self.conn.close()


class _TrackingRows:
    """The tracking half of the recorder (the library's `TrackingRecorder`): one row per
    application or view, its last processed position, never moved back."""

    is_postgres: bool
    _tracking: sa.Table

    def write(self) -> AbstractContextManager[Connection]:  # the recorder's
        raise NotImplementedError

    def read(self) -> AbstractContextManager[Connection]:  # the recorder's
        raise NotImplementedError

    @property
    def tracking_table(self) -> sa.Table:
        """The table of tracked positions (`application_name`, `notification_id`)."""
        return self._tracking

    def insert_tracking(self, tracking: Tracking) -> None:
        with self.write() as conn:
            self._insert_tracking_in(conn, tracking)

    def _insert_tracking_in(self, conn: Connection, tracking: Tracking) -> None:
        t = self._tracking.c
        query = sa.select(t.notification_id).where(t.application_name == tracking.application_name)
        if self.is_postgres:  # two workers on one view: the second waits, then sees the first
            query = query.with_for_update()
        current = conn.execute(query).scalar()
        if current is not None and current >= tracking.notification_id:
            raise IntegrityError(f"tracking {tracking.application_name!r} is already at "
                                 f"{current}, not below {tracking.notification_id}")
        if current is None:
            conn.execute(self._tracking.insert().values(
                application_name=tracking.application_name,
                notification_id=tracking.notification_id))
        else:
            conn.execute(self._tracking.update().where(
                t.application_name == tracking.application_name).values(
                notification_id=tracking.notification_id))

    def track_in(self, conn: Connection, tracking: Tracking) -> None:
        """Record a tracked position inside the caller's transaction (refuses going back)."""
        self._insert_tracking_in(conn, tracking)

    def forget_tracking_in(self, conn: Connection, application_name: str) -> None:
        """Remove a tracked position (a view about to be rebuilt from the start)."""
        t = self._tracking.c
        conn.execute(self._tracking.delete().where(t.application_name == application_name))

    def max_tracking_id(self, application_name: str) -> int | None:
        t = self._tracking.c
        with self.read() as conn:
            value = conn.execute(sa.select(t.notification_id).where(
                t.application_name == application_name)).scalar()
        return None if value is None else int(value)


class CaseChainRecorder(_TrackingRows, ProcessRecorder):
    """Application, aggregate and tracking recorder on SQLAlchemy Core.

    `insert_events(stored_events, event_ids=[...], tracking=...)`: the optional
    `event_ids` (one per stored event, or None) fill the unique `event_id` column.
    """

    def __init__(self, engine: Engine, tables: StoreTables | None = None) -> None:
        self.engine = engine
        self.tables = tables or StoreTables()
        self._events = self.tables.events
        self._tracking = self.tables.tracking
        self.is_postgres = engine.dialect.name == "postgresql"
        self.outages = STORE_DOWN
        mark = "%s" if self.is_postgres else "?"
        self._insert_sql = (
            f"INSERT INTO {self._events.name} (position, originator_id, originator_version, "
            f"topic, state, event_id) VALUES ({', '.join([mark] * 6)})")
        self._copy_sql = (f"COPY {self._events.name} (position, originator_id, originator_version, "
                          "topic, state, event_id) FROM STDIN (FORMAT BINARY)")
        self._growth = threading.Lock()
        self._described: float | None = None  # rows the statistics describe (None: not read)
        self._appended = 0  # rows this process appended since

    # -- schema -------------------------------------------------------------------
    def create_table(self) -> None:
        """Create the tables and indexes if they do not exist."""
        with map_db_errors(), self.engine.connect() as conn:
            conn = conn.execution_options(casechain_write=True)  # SQLite: BEGIN IMMEDIATE
            conn.begin()
            self.schema_lock(conn)  # concurrent first starts: CREATE TABLE IF NOT EXISTS races
            self.tables.metadata.create_all(conn, checkfirst=True)
            conn.commit()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction holding the events table's write lock."""
        tx = self.begin_write()
        try:
            with map_db_errors():
                yield tx.conn
        except BaseException:
            tx.rollback()
            raise
        tx.commit()

    def begin_write(self) -> WriteTransaction:
        """Start a write transaction holding the events table's write lock; the caller
        commits or rolls it back (possibly from another thread)."""
        with map_db_errors():
            conn = self.engine.connect().execution_options(casechain_write=True)
            try:
                conn.begin()
                if self.is_postgres:
                    conn.exec_driver_sql(f"LOCK TABLE {self._events.name} IN EXCLUSIVE MODE")
            except BaseException:
                conn.close()
                raise
        return WriteTransaction(conn)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (inside `one_connection()`, that block's connection)."""
        shared = self._shared()
        if shared is not None:
            with map_db_errors():
                yield shared
            return
        with map_db_errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def one_connection(self) -> Iterator[None]:
        """The reads this thread makes until the block ends share one connection, each
        statement committed on its own (PostgreSQL: each sees what was committed when it
        began, as in separate read-committed transactions). A request of a dozen reads then
        checks a connection out (and pings it) once, not a dozen times, and makes a dozen
        round trips, not four dozen; under load each round trip also waits for the
        interpreter. On SQLite nothing changes: a read transaction there keeps the snapshot
        of its first read, and would not see the views a catch-up commits meanwhile."""
        if not self.is_postgres or self._shared() is not None:
            yield
            return
        with map_db_errors(), self.engine.connect() as conn:
            token = _SHARED_READS.set(
                (self, conn.execution_options(isolation_level="AUTOCOMMIT")))
            try:
                yield
            finally:
                _SHARED_READS.reset(token)

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection on which each statement is committed on its own: inside
        `one_connection()`, that block's (a request's write of one row is then one round
        trip, not a connection of its own checked out, pinged, begun and committed)."""
        shared = self._shared()
        if shared is not None:
            with map_db_errors():
                yield shared
            return
        with map_db_errors(), self.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    def _shared(self) -> Connection | None:
        """The connection of this store's `one_connection()` block this thread is in, if any."""
        current = _SHARED_READS.get()
        return current[1] if current is not None and current[0] is self else None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction that does not lock the events table (the views', the
        ledger's): SQLite takes its write lock at BEGIN IMMEDIATE."""
        with map_db_errors(), self.engine.connect() as conn:
            conn = conn.execution_options(casechain_write=True)
            with conn.begin():
                yield conn

    def tidy(self, table_names: Sequence[str]) -> None:
        """VACUUM (ANALYZE) each table on PostgreSQL (outside a transaction: its visibility
        map lets the range indexes answer from the index alone, its statistics let the
        planner choose them); ANALYZE on SQLite."""
        with map_db_errors(), self.engine.connect() as conn:
            if self.is_postgres:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                for name in table_names:
                    conn.exec_driver_sql(f"VACUUM (ANALYZE) {name}")
            else:
                with conn.begin():
                    for name in table_names:
                        conn.exec_driver_sql(f"ANALYZE {name}")

    def note_appended(self, rows: int) -> None:
        """After `rows` events were committed: on PostgreSQL, take the events table's planner
        statistics again once this process has appended as many rows as they describe (at
        least `STATISTICS_FLOOR`). A bulk import outruns autovacuum's analysis (and a server
        may run without it): with no statistics, or ones from when the table was a tenth of
        its size, PostgreSQL answers each batch's case heads and event ids by reading the
        whole table instead of its indexes. Doubling keeps it to about 20 analyses up to a
        province's log, each sampling a fixed number of rows (about 1 s at the city's year)."""
        if not self.is_postgres:
            return
        with self._growth:
            if self._described is None:
                try:
                    self._described = self._rows_described()
                except sa_exc.SQLAlchemyError:
                    return  # tried again after the next commit
            self._appended += rows
            if self._appended < max(STATISTICS_FLOOR, self._described):
                return
            self._appended = 0
            try:
                with self.engine.connect() as conn, conn.begin():
                    conn.exec_driver_sql(f"ANALYZE {self._events.name}")
                self._described = self._rows_described()
            except sa_exc.SQLAlchemyError as exc:  # the events are committed: never fail them
                log.warning("store.analyze_failed", table=self._events.name,
                            error=type(exc).__name__)

    def _rows_described(self) -> float:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT reltuples FROM pg_class WHERE oid = "
                                        "CAST(:name AS regclass)"), {"name": self._events.name})
            return max(0.0, float(rows.scalar() or 0.0))  # -1: never analysed

    def schema_lock(self, conn: Connection) -> None:
        """Serialise creating and upgrading tables between processes, until `conn` commits
        (PostgreSQL's advisory lock; on SQLite the write transaction already does)."""
        if self.is_postgres:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")

    # -- writing ------------------------------------------------------------------
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        with self.write() as conn:
            return self.insert_in(conn, stored_events, **kwargs)

    def insert_in(self, conn: Connection, stored_events: Sequence[StoredEvent], *,
                  event_ids: Sequence[str | None] | None = None,
                  tracking: Tracking | None = None, **_: Any) -> list[int]:
        """Insert inside a write transaction; return the positions given to the events."""
        if tracking is not None:
            self._insert_tracking_in(conn, tracking)
        if not stored_events:
            return []
        top = conn.execute(sa.select(sa.func.max(self._events.c.position))).scalar() or 0
        ids = event_ids if event_ids is not None else [None] * len(stored_events)
        as_param = _uuid_param if self.is_postgres else _uuid_hex
        rows = [
            (top + n, as_param(e.originator_id), e.originator_version, e.topic, e.state, event_id)
            for n, (e, event_id) in enumerate(zip(stored_events, ids, strict=True), start=1)
        ]
        # Straight to the driver: SQLAlchemy's per-row parameter processing is a third of the
        # insert's cost and these columns need none. PostgreSQL takes COPY, its bulk path.
        if self.is_postgres and len(rows) > 1:
            self._copy_rows(conn, rows)
        else:
            conn.exec_driver_sql(self._insert_sql, rows)
        return [top + n for n in range(1, len(rows) + 1)]

    def _copy_rows(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        driver_conn = conn.connection.driver_connection
        assert driver_conn is not None
        with driver_conn.cursor() as cursor, cursor.copy(self._copy_sql) as copy:
            copy.set_types(["int8", "uuid", "int8", "text", "bytea", "varchar"])
            for row in rows:
                copy.write_row(row)

    # -- reading ------------------------------------------------------------------
    def select_events(self, originator_id: UUID | str, *, gt: int | None = None,
                      lte: int | None = None, desc: bool = False,
                      limit: int | None = None) -> list[StoredEvent]:
        c = self._events.c
        query = sa.select(c.originator_id, c.originator_version, c.topic, c.state).where(
            c.originator_id == _as_uuid(originator_id))
        if gt is not None:
            query = query.where(c.originator_version > gt)
        if lte is not None:
            query = query.where(c.originator_version <= lte)
        query = query.order_by(c.originator_version.desc() if desc else c.originator_version)
        if limit is not None:
            query = query.limit(limit)
        with self.read() as conn:
            return [StoredEvent(r[0], r[1], r[2], bytes(r[3])) for r in conn.execute(query)]

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *,
                             inclusive_of_start: bool = True) -> list[Notification]:
        c = self._events.c
        query = sa.select(c.position, c.originator_id, c.originator_version, c.topic, c.state)
        if start is not None:
            query = query.where(c.position >= start if inclusive_of_start else c.position > start)
        if stop is not None:
            query = query.where(c.position <= stop)
        if topics:
            query = query.where(c.topic.in_(list(topics)))
        query = query.order_by(c.position).limit(limit)
        with self.read() as conn:
            return [Notification(originator_id=r[1], originator_version=r[2], topic=r[3],
                                 state=bytes(r[4]), id=r[0]) for r in conn.execute(query)]

    def records_after(self, start: int, limit: int, stop: int | None = None
                      ) -> list[tuple[int, dict[str, Any]]]:
        """(position, record) of the events after `start` (up to `stop`), in order."""
        return [(position, codec.decode_record(state))
                for position, state in self.select_raw("state", start, limit, stop)]

    def select_states(self, start: int, limit: int, stop: int | None = None
                      ) -> list[tuple[int, bytes]]:
        """(position, state) of the events after `start` (up to `stop`), in order."""
        return self.select_raw("state", start, limit, stop)

    def select_raw(self, column: str, start: int, limit: int | None = None,
                   stop: int | None = None) -> list[tuple[int, bytes]]:
        """(position, `column` as bytes) of the events after `start` (up to `stop`), in order,
        through the driver's own cursor — binary on PostgreSQL, where SQLAlchemy rows and
        text-format bytea cost about four times as much. `column` is an SQL expression over
        the events table (e.g. a `substr` of `state`), written by our code, never by a user."""
        mark = "%s" if self.is_postgres else "?"
        sql = f"SELECT position, {column} FROM {self._events.name} WHERE position > {mark}"
        params: tuple[int, ...] = (start,)
        if stop is not None:
            sql += f" AND position <= {mark}"
            params += (stop,)
        sql += " ORDER BY position" + (f" LIMIT {int(limit)}" if limit is not None else "")
        with self.read() as conn:
            raw: Any = conn.connection.driver_connection
            cursor = raw.cursor(binary=True) if self.is_postgres else raw.cursor()
            try:
                cursor.execute(sql, params)
                return [(position, bytes(value)) for position, value in cursor.fetchall()]
            finally:
                cursor.close()

    def max_notification_id(self) -> int | None:
        with self.read() as conn:
            value = conn.execute(sa.select(sa.func.max(self._events.c.position))).scalar()
        return None if value is None else int(value)

    def tracked_and_head(self, application_names: Sequence[str]) -> tuple[dict[str, int], int]:
        """The tracked positions of these names (those tracked) and the log's last position
        (0: empty), read in one statement: a reader asking where three views stand and where
        the log ends makes one round trip, not four."""
        t = self._tracking.c
        query = sa.union_all(
            sa.select(t.application_name, t.notification_id)
            .where(t.application_name.in_(list(application_names))),
            sa.select(sa.literal("", sa.String()),  # no tracked name is empty: the head
                      sa.func.coalesce(sa.func.max(self._events.c.position), 0)))
        with self.read() as conn:
            rows = conn.execute(query).all()
        tracked = {str(name): int(position) for name, position in rows if name}
        return tracked, next(int(position) for name, position in rows if not name)

    def subscribe(self, gt: int | None = None,
                  topics: Sequence[str] = ()) -> Subscription[CaseChainRecorder]:
        return PollingSubscription(self, gt=gt, topics=topics)


class CaseChainAggregateRecorder(CaseChainRecorder):
    """The same store seen as a plain aggregate recorder: inserts return no positions."""

    def insert_events(self, stored_events: Sequence[StoredEvent],  # type: ignore[override]
                      **kwargs: Any) -> None:
        super().insert_events(stored_events, **kwargs)


class PollingSubscription(ListenNotifySubscription[CaseChainRecorder]):
    """The library's pull-and-queue subscription, woken by a timer instead of NOTIFY."""

    POLL_SECONDS = 0.1

    def __init__(self, recorder: CaseChainRecorder, gt: int | None = None,
                 topics: Sequence[str] = ()) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._has_been_stopped:
            self._has_been_notified.set()
            threading.Event().wait(self.POLL_SECONDS)

    def __exit__(self, *args: object, **kwargs: Any) -> None:
        try:
            super().__exit__(*args, **kwargs)
        finally:
            self._ticker.join()


def _uuid_param(value: UUID | str) -> UUID:
    return _as_uuid(value)


def _uuid_hex(value: UUID | str) -> str:
    # SQLAlchemy's Uuid type stores CHAR(32) hex on databases without a native UUID.
    return _as_uuid(value).hex


def _as_uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)
