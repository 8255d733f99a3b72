"""Throw-away PostgreSQL databases for the tests (the server is on 127.0.0.1:5432)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import sqlalchemy as sa

ADMIN_DSN = os.environ.get("CASECHAIN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def create_database() -> str:
    """Create an empty database and return its SQLAlchemy URL."""
    name = f"casechain_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = psycopg.conninfo.conninfo_to_dict(ADMIN_DSN)
    user, host, port = base.get("user", "postgres"), base.get("host", "127.0.0.1"), base.get(
        "port", "5432")
    return f"postgresql+psycopg://{user}@{host}:{port}/{name}"


def drop_database(url: str) -> None:
    """Drop a database made by `create_database`, closing its other sessions."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def outage(url: str) -> Iterator[None]:
    """The database refuses connections and loses the ones it had, until the block ends —
    as the server going away looks to a client (no other test's database is touched)."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
    try:
        yield
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def run_sql(url: str, statement: str, **params: object) -> list[Any]:
    """Run one SQL statement on a store (any SQLAlchemy URL) in its own transaction, as an
    administrator with database access would; the rows it returns, if any."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(statement), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()
