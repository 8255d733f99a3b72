"""The views' side of the store: the port the projection machinery reads the log and keeps
its positions through (`ViewStore`, `LogSource`), and the SQL that writes view rows.

The store adapter (`casechain.adapters.storage.CaseChainRecorder`) is what `bootstrap`
passes in; the views never import it. Rows are written inside the caller's transaction:
COPY and one-statement upserts on PostgreSQL (executemany there costs about 25 µs a row in
round trips), executemany on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from casechain.batching import chunks

__all__ = [
    "LogSource",
    "ViewStore",
    "insert_rows",
    "replace_case_rows",
    "replace_rows_where",
    "select_case_rows",
    "select_rows_where",
    "shanghai_month",
    "upsert_rows",
]


class LogSource(Protocol):
    """Where the log is read: stored records out, the codec hidden."""

    def records_after(self, start: int, limit: int, stop: int | None = None
                      ) -> list[tuple[int, dict[str, Any]]]:
        """(position, record) of the events after `start` (up to `stop`), in order."""
        ...


class ViewStore(LogSource, Protocol):
    """The store the views live in: transactions, the log's head, tracked positions."""

    is_postgres: bool

    @property
    def outages(self) -> tuple[type[BaseException], ...]:
        """The exceptions that mean "the database cannot be reached now" (try again)."""
        ...

    @property
    def tracking_table(self) -> sa.Table:
        """The table of tracked positions (`application_name`, `notification_id`)."""
        ...

    def read(self) -> AbstractContextManager[Connection]:
        """A read-only transaction."""
        ...

    def transaction(self) -> AbstractContextManager[Connection]:
        """A write transaction on the views (SQLite: BEGIN IMMEDIATE); errors mapped."""
        ...

    def schema_lock(self, conn: Connection) -> None:
        """Serialise creating and upgrading tables between processes (until commit)."""
        ...

    def one_connection(self) -> AbstractContextManager[None]:
        """The reads this thread makes until the block ends share one connection where the
        database allows (PostgreSQL, each statement committed on its own)."""
        ...

    def tidy(self, table_names: Sequence[str]) -> None:
        """Bring the planner's statistics and (PostgreSQL) the visibility map of tables
        refilled at once up to date: VACUUM (ANALYZE) there, ANALYZE on SQLite."""
        ...

    def max_notification_id(self) -> int | None:
        """The log's last position (None: empty)."""
        ...

    def max_tracking_id(self, application_name: str) -> int | None:
        """A tracked position (None: none)."""
        ...

    def tracked_and_head(self, application_names: Sequence[str]) -> tuple[dict[str, int], int]:
        """The tracked positions of these names (those tracked) and the log's last position
        (0: empty), read in one statement."""
        ...

    def forget_tracking_in(self, conn: Connection, application_name: str) -> None:
        """Remove a tracked position inside the caller's transaction."""
        ...


class shanghai_month(FunctionElement[str]):  # read as a SQL function: lower case
    """SQL: the month ("YYYY-MM", Asia/Shanghai, UTC+8 as `domain.calendar.SHANGHAI` keeps
    it) of an instant held as epoch seconds, so that counts per month group in the
    database instead of every row coming back to be dated."""

    type = sa.String()
    inherit_cache = True


@compiles(shanghai_month, "postgresql")
def _month_postgresql(element: shanghai_month, compiler: SQLCompiler, **kw: Any) -> str:
    epoch = compiler.process(element.clauses, **kw)
    return f"to_char(to_timestamp(({epoch}) + 28800) AT TIME ZONE 'UTC', 'YYYY-MM')"


@compiles(shanghai_month, "sqlite")
def _month_sqlite(element: shanghai_month, compiler: SQLCompiler, **kw: Any) -> str:
    epoch = compiler.process(element.clauses, **kw)
    return f"strftime('%Y-%m', ({epoch}) + 28800, 'unixepoch')"


def select_case_rows(conn: Connection, table: sa.Table, case_ids: Sequence[str]
                     ) -> list[dict[str, Any]]:
    """The rows of a per-case view table for these cases, as dicts."""
    rows: list[dict[str, Any]] = []
    for chunk in chunks(list(case_ids), 500):
        rows += [dict(row._mapping) for row in conn.execute(
            sa.select(table).where(table.c.case_id.in_(chunk)))]
    return rows


def select_rows_where(conn: Connection, table: sa.Table, column: str, values: Sequence[Any]
                      ) -> list[dict[str, Any]]:
    """The rows of a view table whose `column` is one of `values`, as dicts."""
    rows: list[dict[str, Any]] = []
    for chunk in chunks(sorted(set(values)), 500):
        rows += [dict(row._mapping) for row in conn.execute(
            sa.select(table).where(table.c[column].in_(chunk)))]
    return rows


def replace_rows_where(conn: Connection, table: sa.Table, column: str, values: Sequence[Any],
                       rows: Sequence[Mapping[str, Any]]) -> None:
    """Delete the rows whose `column` is one of `values` and insert `rows` in their place."""
    for chunk in chunks(sorted(set(values)), 500):
        conn.execute(table.delete().where(table.c[column].in_(chunk)))
    insert_rows(conn, table, rows)


def replace_case_rows(conn: Connection, table: sa.Table, stored_case_ids: Sequence[str],
                      rows: Sequence[Mapping[str, Any]]) -> None:
    """Delete the stored rows of these cases and insert `rows` in their place."""
    for chunk in chunks(sorted(stored_case_ids), 500):
        conn.execute(table.delete().where(table.c.case_id.in_(chunk)))
    insert_rows(conn, table, rows)


def insert_rows(conn: Connection, table: sa.Table,
                rows: Sequence[Mapping[str, Any]] | Sequence[tuple[Any, ...]]) -> None:
    """Insert rows (dicts, or tuples in the table's column order) inside the caller's
    transaction: COPY on PostgreSQL (executemany there costs about 25 µs a row in round
    trips), executemany elsewhere."""
    if not rows:
        return
    names = [column.name for column in table.columns]
    if conn.dialect.name != "postgresql" or len(rows) < 8:
        conn.execute(table.insert(), [row if isinstance(row, Mapping)
                                      else dict(zip(names, row, strict=True)) for row in rows])
        return
    driver = conn.connection.driver_connection
    assert driver is not None
    columns = ", ".join(f'"{name}"' for name in names)
    with driver.cursor() as cursor, cursor.copy(
            f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row if isinstance(row, tuple) else [row.get(n) for n in names])


def upsert_rows(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]],
                keys: Sequence[str], updates: Callable[[Any], dict[str, Any]],
                where: Callable[[Any], Any] | None = None) -> None:
    """Insert `rows`, or on a conflict over `keys` update the stored row with
    `updates(excluded)` (where `where(excluded)` holds), inside the caller's transaction.

    One statement on PostgreSQL — the rows travel as one array per column and `unnest`
    turns them back into rows; executemany sent a statement per row, about 25 µs each —,
    executemany elsewhere."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        names = list(rows[0])
        columns = [sa.func.unnest(sa.bindparam(f"u_{name}", [row[name] for row in rows],
                                               type_=postgresql.ARRAY(table.c[name].type)))
                   for name in names]
        pg_insert = postgresql.insert(table).from_select(names, sa.select(*columns))
        conn.execute(pg_insert.on_conflict_do_update(
            index_elements=list(keys), set_=updates(pg_insert.excluded),
            where=where(pg_insert.excluded) if where else None))
        return
    lite_insert = sqlite.insert(table)
    conn.execute(lite_insert.on_conflict_do_update(
        index_elements=list(keys), set_=updates(lite_insert.excluded),
        where=where(lite_insert.excluded) if where else None), list(rows))
