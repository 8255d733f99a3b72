"""Wiring: the one place that builds the case log from settings."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from casechain.adapters.logging import configure_logging
from casechain.adapters.rulepack_files import calendar_of, load_pack
from casechain.adapters.storage import DEFAULT_DB_URL, CaseChainRecorder, create_store_engine
from casechain.application.case_log import CaseLog
from casechain.domain.law import LawBook
from casechain.domain.rules import RuleBook
from casechain.projections import PAGE, ProjectionRunner, default_views

__all__ = ["db_url_from", "law_book", "open_case_log", "open_projections", "rules_path_from",
           "verify_projections"]


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
    return ProjectionRunner(case_log.store, _views(case_log, rules), page=page)


def _views(case_log: CaseLog, rules: str | None) -> list[Any]:
    if isinstance(case_log.rules, LawBook):
        pack, calendar = case_log.rules.pack, case_log.rules.calendar
    else:
        pack = load_pack(rules_path_from(rules))
        calendar = calendar_of(pack)
    return default_views(pack, calendar)


def verify_projections(case_log: CaseLog, runner: ProjectionRunner, rules: str | None = None,
                       on_page: Callable[[str, int], None] | None = None
                       ) -> dict[str, tuple[str, str]]:
    """Each view's digest as stored and as recomputed from the log, {view: (stored,
    recomputed)}: the views are caught up, then applied again from position 0 into a scratch
    SQLite store in a temporary folder, reading the same log up to the same position. A view
    whose stored rows were edited, added or deleted by hand differs."""
    runner.catch_up()
    until = min((runner.position(name) for name in runner.views), default=0)
    stored = runner.view_digests()
    fresh = _views(case_log, rules)
    with tempfile.TemporaryDirectory(prefix="casechain-verify-") as folder:
        engine = create_store_engine(f"sqlite:///{Path(folder) / 'scratch.db'}")
        scratch = CaseChainRecorder(engine)
        scratch.create_table()
        try:
            again = ProjectionRunner(scratch, fresh, page=runner.page,
                                     source=case_log.store)
            again.catch_up(until=until, on_page=on_page)
            recomputed = again.view_digests()
        finally:
            engine.dispose()
    return {name: (stored[name], recomputed[name]) for name in stored}
