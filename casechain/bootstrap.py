"""Wiring: the one place that builds the case log from settings."""

from __future__ import annotations

import os

import structlog

from casechain.adapters.logging import configure_logging
from casechain.adapters.storage import DEFAULT_DB_URL
from casechain.domain.rules import NoRules, RuleBook
from casechain.service import CaseLog

__all__ = ["db_url_from", "open_case_log"]


def db_url_from(value: str | None) -> str:
    """The store URL: the given one, else `CASECHAIN_DB`, else the default SQLite file.

    A bare path (no `://`) is taken as a SQLite file.
    """
    url = value or os.environ.get("CASECHAIN_DB") or DEFAULT_DB_URL
    return url if "://" in url else f"sqlite:///{url}"


def open_case_log(db: str | None = None, rules: RuleBook | None = None) -> CaseLog:
    """A case log on the configured store (logging configured from the environment if the
    caller has not configured it)."""
    if not structlog.is_configured():
        configure_logging()
    return CaseLog(db_url_from(db), rules=rules or NoRules())
