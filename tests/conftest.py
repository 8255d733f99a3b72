"""Shared fixtures: fresh stores on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from casechain.adapters.logging import configure_logging
from casechain.application.case_log import CaseLog
from tests.pg import create_database, drop_database

configure_logging("json", "warning")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file store in a temporary folder."""
    return f"sqlite:///{tmp_path / 'casechain.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL database created for the test and dropped after it."""
    url = create_database()
    yield url
    drop_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store, once on SQLite and once on PostgreSQL (the storage contract)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'casechain.db'}"
        return
    url = create_database()
    yield url
    drop_database(url)


@pytest.fixture
def case_log(store_url: str) -> Iterator[CaseLog]:
    """A case log on a fresh store."""
    log = CaseLog(store_url)
    yield log
    log.close()


#: Fixtures that reach the PostgreSQL server, directly or through their parameters.
_POSTGRES_FIXTURES = frozenset({"pg_url"})
#: Fixtures that start something taking seconds: a Kafka broker, a browser.
_SLOW_FIXTURES = frozenset({"broker", "browser", "page"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test from the fixtures it uses: `postgres` when it reaches PostgreSQL (the
    PostgreSQL run of `store_url` included), `slow` when it starts a Kafka broker or a
    browser, so `-m "not postgres"` and `-m "not slow"` tell the truth."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        on_postgres = bool(names & _POSTGRES_FIXTURES) or (
            callspec is not None and callspec.params.get("store_url") == "postgres")
        if on_postgres:
            item.add_marker(pytest.mark.postgres)
        if names & _SLOW_FIXTURES and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def fresh_store(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """A maker of fresh stores, one per call: `fresh_store("sqlite")` a new SQLite file,
    `fresh_store("postgres")` a new PostgreSQL database (dropped afterwards) — for tests
    (hypothesis examples) that need several."""
    made: list[str] = []
    files = itertools.count()

    def fresh(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'store-{next(files)}.db'}"
        url = create_database()
        made.append(url)
        return url

    yield fresh
    for url in made:
        drop_database(url)
