"""One error tree: every exception class of the package is a CaseChainError, and the drawing
in casechain/errors.py and docs/errors.md names each of them (as httpx tests its errors)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import casechain
from casechain import errors
from casechain.errors import CaseChainError

#: Exceptions that never leave the package, each with why.
INTERNAL = {
    "ApiProblem": "the HTTP API's answer, turned into problem+json by its handler",
    "EventsRejected": "the pytest plugin's assertion failure, for pytest to report",
    "_Moved": "a view moved by another worker; the runner starts again",
    "_Overtaken": "a batch judged ahead whose cases moved meanwhile; judged again under the "
                  "lock",
}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def _exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module in pkgutil.walk_packages(casechain.__path__, "casechain."):
        loaded = importlib.import_module(module.name)
        for name, value in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == loaded.__name__:
                found[name] = value
    return found


def test_every_exception_the_package_defines_is_a_casechain_error() -> None:
    """Catching CaseChainError catches everything CaseChain raises on purpose."""
    outside = sorted(name for name, cls in _exception_classes().items()
                     if not issubclass(cls, CaseChainError) and name not in INTERNAL)
    assert outside == []


def test_the_drawings_name_every_error_class() -> None:
    """errors.py's docstring and docs/errors.md name each CaseChainError subclass."""
    names = sorted(name for name, cls in _exception_classes().items()
                   if issubclass(cls, CaseChainError))
    drawing, page = errors.__doc__ or "", DOCS.read_text(encoding="utf-8")
    assert [n for n in names if n not in drawing] == []
    assert [n for n in names if n not in page] == []
    assert {"StoreUnavailable", "TokenInvalid", "CaseNotFound"} <= set(names)


def test_a_lost_connection_is_store_unavailable_and_the_librarys_operational_error() -> None:
    """The mapping at the store's boundary: one class, both trees."""
    import sqlite3

    from eventsourcing.persistence import OperationalError

    from casechain.adapters.storage import map_db_errors
    from casechain.errors import StoreUnavailable
    try:
        with map_db_errors():
            raise sqlite3.OperationalError("disk I/O error")
    except StoreUnavailable as exc:
        assert isinstance(exc, OperationalError)
    else:  # pragma: no cover - the mapping failed
        raise AssertionError("not mapped")
