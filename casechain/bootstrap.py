"""Wiring: the one place that builds the case log from settings."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime

import structlog

from casechain.adapters.logging import configure_logging
from casechain.adapters.rulepack_files import calendar_of, load_pack
from casechain.adapters.storage import DEFAULT_DB_URL
from casechain.domain.law import LawBook
from casechain.domain.rules import RuleBook
from casechain.projections import PAGE, ProjectionRunner, default_views
from casechain.service import CaseLog

__all__ = ["db_url_from", "law_book", "open_case_log", "open_projections", "rules_path_from"]


def db_url_from(value: str | None) -> str:
    """The store URL: the given one, else `CASECHAIN_DB`, else the default SQLite file.

    A bare path (no `://`) is taken as a SQLite file.
    """
    url = value or os.environ.get("CASECHAIN_DB") or DEFAULT_DB_URL
    return url if "://" in url else f"sqlite:///{url}"


def rules_path_from(value: str | None) -> str | None:
    """The rule pack: the given path, else `CASECHAIN_RULES`, else None (the bundled pack)."""
    return value or os.environ.get("CASECHAIN_RULES") or None


def law_book(rules: str | None = None) -> LawBook:
    """The lifecycle and legal rules of a rule pack (default: the bundled pack)."""
    pack = load_pack(rules_path_from(rules))
    return LawBook(pack, calendar_of(pack))


def open_case_log(db: str | None = None, rules: str | RuleBook | None = None,
                  clock: Callable[[], datetime] | None = None) -> CaseLog:
    """A case log on the configured store, judging events by the configured rule pack
    (logging configured from the environment if the caller has not configured it)."""
    if not structlog.is_configured():
        configure_logging()
    book = rules if rules is not None and not isinstance(rules, str) else law_book(rules)
    return CaseLog(db_url_from(db), rules=book, clock=clock)


def open_projections(case_log: CaseLog, rules: str | None = None, page: int = PAGE
                     ) -> ProjectionRunner:
    """The projection runner over the case log's store, with the default views; the rule
    pack and calendar are the case log's own when it judges by a pack (read once)."""
    if isinstance(case_log.rules, LawBook):
        pack, calendar = case_log.rules.pack, case_log.rules.calendar
    else:
        pack = load_pack(rules_path_from(rules))
        calendar = calendar_of(pack)
    return ProjectionRunner(case_log.store, default_views(pack, calendar), page=page)
