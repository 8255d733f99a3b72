"""Projection machinery: views kept in the store, each with its tracked position.

A view's rows and its position (the `casechain_tracking` row named after the view) are
written in one transaction, a page of events at a time, so an event is applied exactly once
even when the worker is killed between two pages; a restart resumes from the position.
Positions are gap-free and committed in order (the writers number rows under the table's
write lock, see adapters/storage.py), so "everything up to n" is final once n is visible:
no event whose position was allocated but committed late can be skipped.
"""

from __future__ import annotations

import gc
import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import sqlalchemy as sa
from eventsourcing.persistence import Tracking
from sqlalchemy.engine import Connection

from casechain.adapters import codec
from casechain.adapters.storage import CaseChainRecorder, bulk_gc, map_db_errors, read_ahead

__all__ = ["PAGE", "ProjectionRunner", "View", "ViewStatus"]

PAGE = 10_000
_COLLECT_EVERY = 10  # pages between full collections during a catch-up (bulk_gc)


class View(Protocol):
    """A read model: its tables, and how a page of records changes them."""

    name: str

    def define(self, metadata: sa.MetaData) -> list[sa.Table]:
        """Declare the view's tables on `metadata`."""
        ...

    def apply(self, conn: Connection, records: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """Apply records (position, stored record) in order, inside the caller's transaction."""
        ...


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

    def __init__(self, store: CaseChainRecorder, views: Sequence[View], page: int = PAGE) -> None:
        self.store = store
        self.views = {view.name: view for view in views}
        self.page = page
        self.metadata = sa.MetaData()
        self.tables = {view.name: view.define(self.metadata) for view in views}
        with map_db_errors(), store.engine.begin() as conn:
            self.metadata.create_all(conn, checkfirst=True)

    def position(self, name: str) -> int:
        """The last position the view has applied (0: none)."""
        return self.store.max_tracking_id(_tracking_name(name)) or 0

    def status(self) -> list[ViewStatus]:
        """Every view's position, the log's head and the lag."""
        head = self.store.max_notification_id() or 0
        return [ViewStatus(name, self.position(name), head) for name in self.views]

    def catch_up(self, names: Sequence[str] | None = None, until: int | None = None,
                 on_page: Callable[[str, int], None] | None = None) -> int:
        """Apply every event after each view's position (up to `until`); view-events applied.

        Each page of the log is read and decoded once and applied to every view behind it,
        all in one transaction with their positions."""
        chosen = list(names or self.views)
        positions = {name: self.position(name) for name in chosen}
        start = min(positions.values(), default=0)
        # The next page is read and decoded while this one is written (storage.read_ahead).
        with bulk_gc():
            return self._catch_up(chosen, positions, start, until, on_page)

    def _catch_up(self, chosen: list[str], positions: dict[str, int], start: int,
                  until: int | None, on_page: Callable[[str, int], None] | None) -> int:
        applied = 0
        for number, records in enumerate(
                read_ahead(lambda after: self._read(after, until), start, self.page), start=1):
            if number % _COLLECT_EVERY == 0:
                gc.collect()
            last = records[-1][0]
            done: list[tuple[str, int]] = []
            with self._view_transaction() as conn:
                for name in chosen:
                    behind = (records if positions[name] < records[0][0]
                              else [rec for rec in records if rec[0] > positions[name]])
                    if behind:
                        self.views[name].apply(conn, behind)
                        self.store.track_in(conn, Tracking(_tracking_name(name), last))
                        done.append((name, len(behind)))
            for name, count in done:
                positions[name] = last
                applied += count
                if on_page:
                    on_page(name, count)
        return applied

    def _read(self, start: int, until: int | None) -> list[tuple[int, dict[str, Any]]]:
        states = self.store.select_states(start, self.page, stop=until)
        return [(position, codec.decode_record(state)) for position, state in states]

    def run(self, stop: threading.Event, interval: float = 0.5) -> None:
        """Follow the log until `stop` is set, polling every `interval` seconds when idle."""
        while not stop.is_set():
            if self.catch_up() == 0:
                stop.wait(interval)

    def rebuild(self, names: Sequence[str] | None = None,
                on_page: Callable[[str, int], None] | None = None) -> int:
        """Drop the views' rows and positions and apply the whole log again."""
        chosen = list(names or self.views)
        with self._view_transaction() as conn:
            for name in chosen:
                for table in reversed(self.tables[name]):
                    conn.execute(table.delete())
                self.store.forget_tracking_in(conn, _tracking_name(name))
        return self.catch_up(chosen, on_page=on_page)

    def digest(self) -> tuple[str, int, dict[str, int]]:
        """One SHA-256 over every view's rows (in key order), the log position it covers
        (the lowest view position), and the row count per view."""
        sha = hashlib.sha256()
        counts: dict[str, int] = {}
        with self.store.read() as conn:
            for name in sorted(self.tables):
                for table in self.tables[name]:
                    keys = [c for c in table.primary_key.columns] or list(table.columns)
                    rows = conn.execute(sa.select(table).order_by(*keys)).all()
                    counts[str(table.name)] = len(rows)
                    sha.update(table.name.encode())
                    for row in rows:
                        sha.update(orjson.dumps([_plain(v) for v in row]))
        covered = min((self.position(name) for name in self.views), default=0)
        return sha.hexdigest(), covered, counts

    @contextmanager
    def _view_transaction(self) -> Iterator[Connection]:
        with map_db_errors(), self.store.engine.connect() as conn:
            conn = conn.execution_options(casechain_write=True)  # SQLite: BEGIN IMMEDIATE
            with conn.begin():
                if self.store.is_postgres:
                    # Views are read by key. While a rebuild fills them, PostgreSQL's
                    # statistics still say "empty" and its planner picks sequential scans,
                    # making each page cost more than the last; keys are what we want.
                    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
                yield conn


def _tracking_name(view: str) -> str:
    return f"view:{view}"


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
