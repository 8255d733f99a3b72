"""Working through large amounts in pieces: slices for IN lists (and the SQL conditions
made of them), pages read ahead on a thread, and no cyclic garbage collection during bulk
work.

The ground floor, beside `errors`: no I/O of its own and nothing of CaseChain's, so every
room may use it (the store adapter, the views' machinery, the import use case, the ledger).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

__all__ = ["bulk_gc", "chunks", "freeze_for_life", "one_of", "read_ahead"]


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive slices of at most `size` items (for IN lists the database accepts)."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def one_of(conn: Connection, column: Any, values: Sequence[Any]
           ) -> Iterator[sa.ColumnElement[bool]]:
    """SQL conditions, `column` is one of `values`, to run one after another: on PostgreSQL
    one condition with the values as one array (`IN (SELECT unnest(...))`: one statement
    text whatever their number, planned and prepared once; the array sent as text,
    `_array_literal`), elsewhere IN lists of 500 (SQLite's limit on parameters; an IN of
    hundreds is also compiled afresh each time).

    Not `= ANY(array)`: the server's cast of the text to an array is not folded into a
    constant when the statement is planned, so the planner neither knows the array's size
    nor may hash it. On a table of tens of thousands of rows it then chose to scan the
    table and compare each row with every element in turn: a batch's 1,000 case ids
    against 40,000 events took 5 s, and a new store imported at 2,400 events/s instead of
    over 20,000. Joined to the array's elements, the table is probed through its index (or
    hashed), whatever its size."""
    values = list(values)
    if conn.dialect.name == "postgresql":
        if values:
            array = sa.cast(sa.bindparam(None, _array_literal(values), type_=sa.Text),
                            postgresql.ARRAY(column.type))
            yield column.in_(sa.select(sa.func.unnest(array)))
        return
    for chunk in chunks(values, 500):
        yield column.in_(chunk)


def _array_literal(values: Sequence[Any]) -> str:
    """PostgreSQL's text form of an array of these values, every element quoted (so no
    value reads as NULL or splits at a comma). Sent as one text parameter and cast by the
    server: the driver's array dumper costs about 3 µs a value in Python (16 ms for the
    5,000 event ids of an import batch), this about 0.4 µs."""
    return "{" + ",".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for v in values) + "}"


def read_ahead(read: Callable[[int], list[Any]], start: int, size: int) -> Iterator[list[Any]]:
    """Pages of `(position, ...)` items from `read(after_position)`, in order, until a page is
    not full; the next page is read on a thread while the caller works on this one (the
    database driver releases the GIL while it waits)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as reader:
        upcoming = reader.submit(read, start)
        while True:
            page = upcoming.result()
            full = len(page) == size
            if full:
                upcoming = reader.submit(read, page[-1][0])
            if page:
                yield page
            if not full:
                return


@dataclass
class _Collector:
    """What `bulk_gc` blocks share, in every thread of the process."""

    open: int = 0  #: bulk_gc blocks open now
    was_enabled: bool = True  #: the automatic passes, when the first of them opened
    frozen_for_life: bool = False  #: `freeze_for_life` was called: nothing is unfrozen


_COLLECTOR = _Collector()
_COLLECTOR_LOCK = threading.Lock()


def freeze_for_life() -> None:
    """What the process holds now (its libraries, the rule pack, a server's routes) kept out
    of every later collection, for good, after one full pass has freed what is garbage
    already: a long-running process's passes then cover only what came after. `bulk_gc`
    leaves this freeze in place."""
    with _COLLECTOR_LOCK:
        gc.collect()
        gc.freeze()
        _COLLECTOR.frozen_for_life = True


@contextmanager
def bulk_gc() -> Iterator[None]:
    """No automatic cyclic-GC passes during bulk work (an import, a view catch-up, a verify).

    Bulk work keeps tens of thousands of small objects alive (a page of decoded events); the
    collector's automatic passes keep re-scanning them — measured: reading and decoding a
    page of 10,000 events took 2.5× as long with them — while reference counting frees
    almost everything (an import leaves about 1,400 objects in cycles per 100,000 events).
    What exists when the first block opens (modules, the rule pack) is frozen out of the
    scans; callers that run long collect now and then. Blocks open in several threads at
    once (a server's catch-ups) share one setting: the collector is restored as the first
    found it when the last closes, and a freeze for life is never undone.

    Which blocks are open is counted here, not asked of the collector:
    `gc.get_freeze_count()` walks every frozen object (8 ms a million), and a server's
    catch-ups — one per view at each append — spent a quarter of its interpreter in it."""
    with _COLLECTOR_LOCK:
        if _COLLECTOR.open == 0:
            _COLLECTOR.was_enabled = gc.isenabled()
            if not _COLLECTOR.frozen_for_life:
                gc.freeze()
            gc.disable()
        _COLLECTOR.open += 1
    try:
        yield
    finally:
        with _COLLECTOR_LOCK:
            _COLLECTOR.open -= 1
            if _COLLECTOR.open == 0:
                if _COLLECTOR.was_enabled:
                    gc.enable()
                if not _COLLECTOR.frozen_for_life:
                    gc.unfreeze()
