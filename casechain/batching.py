"""Working through large amounts in pieces: slices for IN lists (and the SQL conditions
made of them), pages read ahead on a thread, and no cyclic garbage collection during bulk
work.

The ground floor, beside `errors`: no I/O of its own and nothing of CaseChain's, so every
room may use it (the store adapter, the views' machinery, the import use case, the ledger).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

__all__ = ["bulk_gc", "chunks", "one_of", "read_ahead"]


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive slices of at most `size` items (for IN lists the database accepts)."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def one_of(conn: Connection, column: Any, values: Sequence[Any]
           ) -> Iterator[sa.ColumnElement[bool]]:
    """SQL conditions, `column` is one of `values`, to run one after another: on PostgreSQL
    one condition with the values as one array (`= ANY(...)`: one statement text whatever
    their number, planned and prepared once; the array sent as text, `_array_literal`),
    elsewhere IN lists of 500 (SQLite's limit on parameters; an IN of hundreds is also
    compiled afresh each time)."""
    values = list(values)
    if conn.dialect.name == "postgresql":
        if values:
            array = sa.cast(sa.bindparam(None, _array_literal(values), type_=sa.Text),
                            postgresql.ARRAY(column.type))
            yield column == sa.any_(array)
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


@contextmanager
def bulk_gc() -> Iterator[None]:
    """No automatic cyclic-GC passes during bulk work (an import, a view catch-up, a verify).

    Bulk work keeps tens of thousands of small objects alive (a page of decoded events); the
    collector's automatic passes keep re-scanning them — measured: reading and decoding a
    page of 10,000 events took 2.5× as long with them — while reference counting frees
    almost everything (an import leaves about 1,400 objects in cycles per 100,000 events).
    What exists on entry (modules, the rule pack) is frozen out of the scans; callers that
    run long collect now and then. The settings are restored on exit — a freeze made before
    (`casechain serve` freezes what it holds from its start) is left as it was, not undone
    by the first catch-up of the views."""
    was_enabled = gc.isenabled()
    ours = gc.get_freeze_count() == 0
    if ours:
        gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        if ours:
            gc.unfreeze()
