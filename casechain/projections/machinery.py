"""Projection machinery: views kept in the store, each with its tracked position.

A view's rows and its position (the `casechain_tracking` row named after the view) are
written in one transaction, a page of events at a time, so an event is applied exactly once
even when the worker is killed between two pages; a restart resumes from the position.
Positions are gap-free and committed in order (the writers number rows under the table's
write lock, see the store adapter), so "everything up to n" is final once n is visible:
no event whose position was allocated but committed late can be skipped.

Each page's transaction takes the views' locks and reads their positions first: a second
worker on the same views (`projections run` beside `serve`'s follower) never applies a page
twice — when a view has moved under it, it starts again from the stored positions.

Folding and writing overlap: a view folds page n+1 (`View.apply` on a `Page`, which reads
committed rows and collects the writes) while a writer thread carries out page n's writes,
so Python and the database each keep a core busy. A read of rows that page n is still
writing waits for that page to commit. A catch-up of one short page (a reader's, a
follower's beside readers) is read, folded and written on the caller's thread alone.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import itertools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from casechain.batching import bulk_gc, read_ahead
from casechain.errors import StoreError
from casechain.projections.recent import RecentRecords
from casechain.projections.store import (
    LogSource,
    ViewStore,
    insert_rows,
    replace_case_rows,
    replace_rows_where,
    select_case_rows,
    select_rows_where,
    upsert_rows,
)

__all__ = ["LENGTH_UNIT", "LONGEST", "PAGE", "Page", "ProjectionRunner", "View", "ViewStatus",
           "held_arms", "length_class", "seen_before"]

log = structlog.get_logger("casechain.projections")

PAGE = 10_000
_COLLECT_EVERY = 10  # pages between full collections during a catch-up (bulk_gc)


class View(Protocol):
    """A read model: its tables, and how a page of records changes them. A view may carry
    `version` (an int, 1 when absent): raised when its tables change shape, it makes the
    runner drop the old tables and rebuild the view from the log."""

    name: str

    def define(self, metadata: sa.MetaData) -> list[sa.Table]:
        """Declare the view's tables on `metadata`."""
        ...

    def apply(self, page: Page, records: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """Fold records (position, stored record), in order, into writes on `page`."""
        ...


@dataclass(frozen=True)
class _Write:
    table: str
    case_ids: frozenset[str] | None  # None: not rows of given cases (a read of the table waits)
    run: Callable[[Connection], None]


@dataclass
class _InFlight:
    """The page the writer thread is writing: what it touches, and its outcome."""

    future: Future[None]
    batch: list[tuple[str, int, Page, int]]  # (view, position before, folded page, events)
    touched: dict[str, frozenset[str] | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for _, _, page, _ in self.batch:
            for write in page.writes:
                known = self.touched.get(write.table, frozenset())
                self.touched[write.table] = (None if known is None or write.case_ids is None
                                             else known | write.case_ids)

    def overlaps(self, table: str, case_ids: Sequence[str]) -> bool:
        if table not in self.touched:
            return False
        ids = self.touched[table]
        return ids is None or not ids.isdisjoint(case_ids)


class Page:
    """What a view sees of the store while it folds a page: reads of committed rows, and the
    writes it asks for, carried out later in the page's transaction with its position."""

    def __init__(self, store: ViewStore, in_flight: _InFlight | None) -> None:
        self._store = store
        self._in_flight = in_flight
        self.writes: list[_Write] = []

    def case_rows(self, table: sa.Table, case_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The stored rows of these cases (as dicts), including the previous page's."""
        if not case_ids:
            return []
        if self._in_flight is not None and self._in_flight.overlaps(table.name, case_ids):
            self._in_flight.future.result()
        with self._store.read() as conn:
            _by_key(conn)
            return select_case_rows(conn, table, case_ids)

    def folded(self) -> None:
        """The view is done reading: forget the page written before this one (a page kept
        it, that page the one before, and so on: every page of a rebuild stayed alive)."""
        self._in_flight = None

    def rows_where(self, table: sa.Table, column: str, values: Sequence[Any]
                   ) -> list[dict[str, Any]]:
        """The stored rows whose `column` is one of `values` (as dicts), including the
        previous page's (waited for when it writes this table at all)."""
        if not values:
            return []
        if self._in_flight is not None and table.name in self._in_flight.touched:
            self._in_flight.future.result()
        with self._store.read() as conn:
            _by_key(conn)
            return select_rows_where(conn, table, column, values)

    def replace_rows_where(self, table: sa.Table, column: str, values: Sequence[Any],
                           rows: Sequence[Mapping[str, Any]]) -> None:
        """Replace the stored rows whose `column` is one of `values` by `rows`."""
        self.writes.append(_Write(table.name, None, lambda conn: replace_rows_where(
            conn, table, column, values, rows)))

    def replace_case_rows(self, table: sa.Table, stored_case_ids: Sequence[str],
                          rows: Sequence[Mapping[str, Any]]) -> None:
        """Replace the stored rows of these cases by `rows`."""
        ids = frozenset(stored_case_ids) | {row["case_id"] for row in rows}
        self.writes.append(_Write(table.name, ids, lambda conn: replace_case_rows(
            conn, table, stored_case_ids, rows)))

    def insert_rows(self, table: sa.Table,
                    rows: Sequence[Mapping[str, Any]] | Sequence[tuple[Any, ...]],
                    case_ids: Sequence[str] | None = None) -> None:
        """Insert rows; `case_ids`: the cases they belong to, when the view reads them back
        by case."""
        if rows:
            self.writes.append(_Write(table.name, None if case_ids is None else
                                      frozenset(case_ids),
                                      lambda conn: insert_rows(conn, table, rows)))

    def upsert_rows(self, table: sa.Table, rows: Sequence[Mapping[str, Any]],
                    keys: Sequence[str], updates: Callable[[Any], dict[str, Any]],
                    where: Callable[[Any], Any] | None = None) -> None:
        """Insert rows or update the stored ones (store.upsert_rows)."""
        if rows:
            ids = frozenset(row["case_id"] for row in rows) if "case_id" in keys else None
            self.writes.append(_Write(table.name, ids, lambda conn: upsert_rows(
                conn, table, rows, keys, updates, where)))


def _version(view: View) -> int:
    """The shape of a view's tables (`View.version`, 1 when the view has none)."""
    return int(getattr(view, "version", 1))


def seen_before(records: Sequence[dict[str, Any]]) -> list[str]:
    """The cases of `records` (sorted) that may have rows stored already: those whose first
    event here is not their first event (seq 1). A view's rows of a case come from that
    case's events only, so a case that begins in this page has none to read or replace."""
    first: dict[str, int] = {}
    for r in records:
        first.setdefault(r["case_id"], r["seq"])
    return sorted(case_id for case_id, seq in first.items() if seq > 1)


#: A stopped span's length class (`length_class`): class k holds lengths up to
#: `LENGTH_UNIT` × 4**k seconds (an hour, four, sixteen, ... about 682 days); the last class,
#: `LONGEST`, holds any length beyond.
LENGTH_UNIT, LONGEST = 3600.0, 8


def length_class(start: float, stop: float | None) -> int | None:
    """The class of a stopped span's length (None while it runs): see `held_arms`."""
    if stop is None:
        return None
    length, k = stop - start, 0
    while k < LONGEST and length > LENGTH_UNIT * 4 ** k:
        k += 1
    return k


def held_arms(start: Any, stop: Any, moment: float, breached: Any = None,
              length: Any = None) -> list[Any]:
    """SQL: what holds at `moment` (epoch seconds) — started by then and not stopped by then,
    or, with `breached`, breached when set whatever its stop — as conditions that exclude
    each other, one SELECT each, joined by UNION ALL. Under one OR, PostgreSQL reads every
    row of the place stopped after the instant, those started after it too (as of
    2025-06-30 on the city's year, 86,140 of a district's clocks for 5,847 running); an arm
    at a time, it bounds the stop by an index range and checks the start in the index.

    With `length` (the column of `length_class`), what stopped after the instant is read a
    class at a time: a span of class k stopped after the instant started less than its
    longest length before it, so each class is an index range of starts (a window of an hour,
    four, ... before the instant) rather than every row stopped after the instant (half the
    city's clocks as of mid-year: an interval holding an instant is not a range of any one
    B-tree, but a class of lengths makes it one)."""
    arms = [sa.and_(stop.is_(None), start <= moment)]
    if length is None:
        arms.append(sa.and_(stop > moment, start <= moment))
    else:
        arms[0] = sa.and_(length.is_(None), *arms[0].clauses)
        # a second's slack below each window: the class was computed in floating point
        arms += [sa.and_(length == k, start >= moment - LENGTH_UNIT * 4 ** k - 1.0,
                         start <= moment, stop > moment) for k in range(LONGEST)]
        arms.append(sa.and_(length == LONGEST, start <= moment, stop > moment))
    if breached is not None:
        arms.append(sa.and_(breached, stop <= moment, start <= moment))
    return arms


class _Moved(Exception):
    """A view's stored position is not where this worker left it: another worker moved it."""


@dataclass(frozen=True)
class ViewStatus:
    """Where a view stands against the log."""

    name: str
    position: int
    head: int

    @property
    def lag(self) -> int:
        """Events in the log the view has not applied yet."""
        return self.head - self.position

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "position": self.position, "head": self.head, "lag": self.lag}


class ProjectionRunner:
    """Keeps views up to date with the log: catch up, run beside the writer, rebuild."""

    def __init__(self, store: ViewStore, views: Sequence[View], page: int = PAGE,
                 source: LogSource | None = None) -> None:
        self.store = store
        #: Where the log is read (the store itself, but for a recomputation elsewhere),
        #: its latest records decoded once here for every reader of the log's end.
        self.source: LogSource = RecentRecords(source or store)
        self.views = {view.name: view for view in views}
        self.page = page
        # One catch-up of a view at a time here: a query finds it caught up and reads on.
        self._catching = {view.name: threading.Lock() for view in views}
        self.metadata = sa.MetaData()
        self.tables = {view.name: view.define(self.metadata) for view in views}
        self._versions = sa.Table(
            "casechain_view_versions", self.metadata,
            sa.Column("name", sa.String(64), primary_key=True),
            sa.Column("version", sa.Integer(), nullable=False))
        with store.read() as conn:
            settled = _settled(conn, self.metadata, self._versions, self.views)
        if not settled:  # the write lock only when tables are missing or changed shape
            with self._view_transaction() as conn:
                store.schema_lock(conn)  # one process at a time creates or upgrades
                self.metadata.create_all(conn, checkfirst=True)
                self._upgrade(conn)

    def _upgrade(self, conn: Connection) -> None:
        """Views whose tables changed shape (a new `version`) are dropped and created anew
        with no position, so the next catch-up rebuilds them from the log."""
        stored = {row[0]: row[1] for row in conn.execute(sa.select(self._versions))}
        _refuse_newer(self.views, stored)
        for name, view in self.views.items():
            wanted = _version(view)
            if stored.get(name, 1) != wanted:
                _lock(self.store, conn, [name])
                for table in reversed(self.tables[name]):
                    table.drop(conn)
                for table in self.tables[name]:
                    table.create(conn)
                self.store.forget_tracking_in(conn, _tracking_name(name))
            if stored.get(name) != wanted:
                upsert_rows(conn, self._versions, [{"name": name, "version": wanted}], ["name"],
                            lambda new: {"version": new.version})

    def position(self, name: str) -> int:
        """The last position the view has applied (0: none)."""
        return self.store.max_tracking_id(_tracking_name(name)) or 0

    def positions(self, names: Sequence[str]) -> tuple[dict[str, int], int]:
        """The last position each of these views has applied (0: none) and the log's head,
        read in one statement (each round trip of a busy server's thread waits for the
        GIL again: a case read asking three views and the head one at a time made four)."""
        tracked, head = self.store.tracked_and_head([_tracking_name(n) for n in names])
        return {name: tracked.get(_tracking_name(name), 0) for name in names}, head

    def status(self) -> list[ViewStatus]:
        """Every view's position, the log's head and the lag."""
        at, head = self.positions(list(self.views))
        return [ViewStatus(name, at[name], head) for name in self.views]

    def ready(self, names: Sequence[str], position: int | None = None,
              known: Mapping[str, int] | None = None) -> None:
        """The views `names` at `position` at least (the log's head as it stands now, when
        None) before a read. Nothing is done, and no lock taken, when they are there already
        — a read never queues behind another caller's catch-up it does not need; else they
        are caught up to that position and not beyond, so a reader waits for what was
        recorded before it asked, not for what was appended while it waited. `known`: the
        views' positions the caller has just read (`positions`), not read again."""
        if known is None:
            known, head = self.positions(names)
            position = head if position is None else position
        elif position is None:
            position = self.store.max_notification_id() or 0
        if all(known.get(name, 0) >= position for name in names):
            return
        self.catch_up(names, until=position)

    def keep_up(self) -> int:
        """One round of a follower beside readers: every view brought to the log's head;
        view-events applied. A long way behind (more than a page), all views together, the
        log read once for them all; otherwise one view at a time, so that a reader waiting
        for one view never waits for the others' folding too."""
        at, head = self.positions(sorted(self.views))
        behind = [name for name, position in at.items() if position < head]
        if not behind:
            return 0
        if head - min(at[name] for name in behind) > self.page:
            return self.catch_up(behind, until=head)
        return sum(self.catch_up([name], until=head) for name in behind)

    def catch_up(self, names: Sequence[str] | None = None, until: int | None = None,
                 on_page: Callable[[str, int], None] | None = None) -> int:
        """Apply every event after each view's position (up to `until`); view-events applied.

        Each page of the log is read and decoded once and applied to every view behind it,
        all in one transaction with their positions."""
        chosen = list(names or self.views)
        applied = [0]
        with contextlib.ExitStack() as held:
            for name in sorted(chosen):  # one order: no two callers deadlock
                held.enter_context(self._catching[name])
            held.enter_context(bulk_gc())
            while True:
                positions = self.positions(chosen)[0]
                try:
                    self._catch_up(chosen, positions, until, on_page, applied)
                    return applied[0]
                except _Moved:
                    continue  # another worker moved a view: start again from the store

    def _catch_up(self, chosen: list[str], positions: dict[str, int], until: int | None,
                  on_page: Callable[[str, int], None] | None, applied: list[int]) -> None:
        start = min(positions.values(), default=0)
        first = self._read(start, until)
        if len(first) < self.page:
            # One page (a reader's usual catch-up of a few events): read, folded and written
            # on this thread — handing them to threads would only add waits for the GIL.
            batch = self._fold(chosen, positions, first, None) if first else []
            if batch:
                self._write(batch, first[-1][0])
                self._counted(batch, applied, on_page)
            return
        in_flight: _InFlight | None = None
        # The next page is read and decoded on one thread (read_ahead) and the
        # previous one written on another while this one is folded.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="view-writer") as writer:
            try:
                pages = itertools.chain([first], read_ahead(
                    lambda after: self._read(after, until), first[-1][0], self.page))
                for number, records in enumerate(pages, start=1):
                    if number % _COLLECT_EVERY == 0:
                        gc.collect()
                    batch = self._fold(chosen, positions, records, in_flight)
                    if in_flight is not None:
                        done, in_flight = in_flight, None
                        self._finish(done, applied, on_page)
                    if batch:
                        in_flight = _InFlight(writer.submit(self._write, batch,
                                                            records[-1][0]), batch)
            except BaseException:
                if in_flight is not None:  # let the page being written end, whichever way
                    in_flight.future.exception()
                raise
            if in_flight is not None:
                self._finish(in_flight, applied, on_page)

    def _fold(self, chosen: list[str], positions: dict[str, int],
              records: list[tuple[int, dict[str, Any]]], in_flight: _InFlight | None
              ) -> list[tuple[str, int, Page, int]]:
        """Each view behind folds this page of the log; their positions move to its end."""
        last = records[-1][0]
        batch: list[tuple[str, int, Page, int]] = []
        for name in chosen:
            if positions[name] >= last:
                continue
            behind = (records if positions[name] < records[0][0]
                      else [rec for rec in records if rec[0] > positions[name]])
            page = Page(self.store, in_flight)
            self.views[name].apply(page, behind)
            page.folded()
            batch.append((name, positions[name], page, len(behind)))
        for name, *_ in batch:
            positions[name] = last
        return batch

    @classmethod
    def _finish(cls, in_flight: _InFlight, applied: list[int],
                on_page: Callable[[str, int], None] | None) -> None:
        in_flight.future.result()
        cls._counted(in_flight.batch, applied, on_page)

    @staticmethod
    def _counted(batch: list[tuple[str, int, Page, int]], applied: list[int],
                 on_page: Callable[[str, int], None] | None) -> None:
        for name, _, _, count in batch:
            applied[0] += count
            if on_page:
                on_page(name, count)

    def _write(self, batch: list[tuple[str, int, Page, int]], last: int) -> None:
        """One transaction: lock the views, check their positions, write, track. A few
        statements a page: each round trip of this thread waits for the GIL as well."""
        names = [name for name, *_ in batch]
        tracking = self.store.tracking_table
        with self._view_transaction() as conn:
            _lock(self.store, conn, names)
            stored: dict[str, int] = {row[0]: row[1] for row in conn.execute(
                sa.select(tracking.c.application_name, tracking.c.notification_id).where(
                    tracking.c.application_name.in_([_tracking_name(n) for n in names])))}
            for name, expected, page, _ in batch:
                if stored.get(_tracking_name(name), 0) != expected:
                    raise _Moved(name)
                for write in page.writes:
                    write.run(conn)
            upsert_rows(conn, tracking, [{"application_name": _tracking_name(name),
                                          "notification_id": last} for name in names],
                        ["application_name"], lambda new: {"notification_id": new.notification_id})

    def _read(self, start: int, until: int | None) -> list[tuple[int, dict[str, Any]]]:
        return self.source.records_after(start, self.page, stop=until)

    def run(self, stop: threading.Event, interval: float = 0.5) -> None:
        """Follow the log until `stop` is set, polling every `interval` seconds when idle.
        While the store cannot be reached it says so and tries again, waiting longer each
        time (up to a minute); what was committed stays committed."""
        wait = interval
        while not stop.is_set():
            try:
                applied = self.catch_up()
            except self.store.outages as exc:
                log.warning("projections.store_unavailable", error=str(exc).strip(),
                            retry_in_s=wait)
                stop.wait(wait)
                wait = min(wait * 2, 60.0)
                continue
            if wait != interval:
                log.info("projections.store_available")
                wait = interval
            if applied == 0:
                stop.wait(interval)

    def rebuild(self, names: Sequence[str] | None = None,
                on_page: Callable[[str, int], None] | None = None) -> int:
        """Drop the views' rows and positions and apply the whole log again."""
        chosen = list(names or self.views)
        with self._view_transaction() as conn:
            _lock(self.store, conn, chosen)
            for name in chosen:
                for table in reversed(self.tables[name]):
                    conn.execute(table.delete())
                self.store.forget_tracking_in(conn, _tracking_name(name))
        applied = self.catch_up(chosen, on_page=on_page)
        # Tables refilled at once: without statistics PostgreSQL reads an as-of query's range
        # indexes as if the tables were still empty (a city-year rebuild: 0.13 s → 0.24 s a
        # district's alerts); without a visibility map an index-only scan still visits every
        # row's page (the breach counts: 0.36 s → 0.16 s), until autovacuum comes by.
        self.store.tidy([table.name for name in chosen for table in self.tables[name]])
        return applied

    def digest(self) -> tuple[str, int, dict[str, int]]:
        """One SHA-256 over every view's rows (in key order), the log position it covers
        (the lowest view position), and the row count per view."""
        sha = hashlib.sha256()
        counts: dict[str, int] = {}
        with self.store.read() as conn:
            for name in sorted(self.tables):
                _hash_rows(conn, self.tables[name], sha, counts)
        covered = min((self.position(name) for name in self.views), default=0)
        return sha.hexdigest(), covered, counts

    def view_digests(self) -> dict[str, str]:
        """A SHA-256 per view over its rows, in key order."""
        with self.store.read() as conn:
            return {name: _hash_rows(conn, self.tables[name], hashlib.sha256(), {}).hexdigest()
                    for name in sorted(self.tables)}

    @contextmanager
    def _view_transaction(self) -> Iterator[Connection]:
        with self.store.transaction() as conn:
            _by_key(conn)
            yield conn


def _settled(conn: Connection, metadata: sa.MetaData, versions: sa.Table,
             views: Mapping[str, View]) -> bool:
    """Every table exists and every view's stored version is its own."""
    existing = set(sa.inspect(conn).get_table_names())
    if not {str(table.name) for table in metadata.sorted_tables} <= existing:
        return False
    stored = {row[0]: row[1] for row in conn.execute(sa.select(versions))}
    return all(stored.get(name) == _version(view) for name, view in views.items())


def _lock(store: ViewStore, conn: Connection, names: Sequence[str]) -> None:
    """Hold these views until the transaction ends (PostgreSQL advisory locks, taken in name
    order; on SQLite the write transaction already excludes every other writer)."""
    if store.is_postgres and names:
        conn.exec_driver_sql("SELECT " + ", ".join(
            f"pg_advisory_xact_lock({_lock_key(name)})" for name in sorted(names)))


def _refuse_newer(views: Mapping[str, View], stored: Mapping[str, int]) -> None:
    """A view upgraded by a newer release is never taken back to this one's shape (an old
    process started beside a new one would drop the new tables, then the new one rebuild
    them, and so on)."""
    newer = {name: stored[name] for name, view in views.items()
             if stored.get(name, 0) > _version(view)}
    if newer:
        raise StoreError(
            "the store's views were upgraded by a newer CaseChain release ("
            + ", ".join(f"{name} version {version}, this release knows "
                        f"{_version(views[name])}" for name, version in sorted(newer.items()))
            + "): run the newer release")


def _tracking_name(view: str) -> str:
    return f"view:{view}"


def _lock_key(view: str) -> int:
    """The view's PostgreSQL advisory lock (a signed 64-bit key from its tracking name)."""
    digest = hashlib.sha256(f"casechain:{_tracking_name(view)}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _by_key(conn: Connection) -> None:
    """Views are read and written by key. While a rebuild fills them, PostgreSQL's statistics
    still say "empty" and its planner picks sequential scans, making each page cost more
    than the last; keys are what we want. Not on a request's connection, whose statements
    commit each on its own (`one_connection`): a setting there would hold for no statement
    (PostgreSQL warns, in its log, at each), and a running server's views have statistics."""
    if (conn.dialect.name == "postgresql"
            and conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT"):
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")


def _hash_rows(conn: Connection, tables: list[sa.Table], sha: Any, counts: dict[str, int]
               ) -> Any:
    """Feed a view's rows, table by table in key order, to `sha`; count them. Rows are
    streamed: a view of millions of rows is hashed in constant memory. `sha` again."""
    for table in tables:
        keys = [c for c in table.primary_key.columns] or list(table.columns)
        count = 0
        sha.update(table.name.encode())
        for row in conn.execution_options(yield_per=10_000).execute(
                sa.select(table).order_by(*keys)):
            sha.update(orjson.dumps([_plain(v) for v in row]))
            count += 1
        counts[str(table.name)] = count
    return sha


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
