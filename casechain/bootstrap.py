"""Wiring: the one place that builds the parts from settings — the case log on its store,
the views, the ledger, the access log, token files, signing keys, the Kafka clients — and
hands the entrypoints what they run. The entrypoints never name an adapter; this does."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from casechain.adapters.access_log import AccessLog
from casechain.adapters.ledger import AutoCheckpoint, Ledger, load_private_key
from casechain.adapters.logging import configure_logging
from casechain.adapters.rulepack_files import calendar_of, load_pack
from casechain.adapters.storage import CaseChainRecorder, create_store_engine, missing_sqlite_file
from casechain.adapters.tokens import TokenFile
from casechain.application import replay
from casechain.application.case_log import DEFAULT_DB_URL, CaseLog
from casechain.application.serving import Components
from casechain.domain.law import LawBook
from casechain.domain.rules import RuleBook
from casechain.projections import PAGE, ProjectionRunner, default_views

if TYPE_CHECKING:  # kafka-python is imported by the commands that use it
    from casechain.adapters.kafka_producer import KafkaSettings, OutboundPublisher

__all__ = [
    "KafkaSettings",
    "auto_checkpoint",
    "configure_logging",
    "db_url_from",
    "kafka_settings",
    "law_book",
    "missing_store_file",
    "open_case_log",
    "open_ledger",
    "open_projections",
    "open_publisher",
    "open_service",
    "recorder_of",
    "replay_compare",
    "replay_log",
    "rules_path_from",
    "verify_projections",
]


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


def missing_store_file(db: str | None) -> str | None:
    """The path of a SQLite store file that does not exist (None: it exists, or the store
    is not a file)."""
    return missing_sqlite_file(db_url_from(db))


def recorder_of(case_log: CaseLog) -> CaseChainRecorder:
    """The recorder under the case log: the views, the ledger and the access log live in
    its database."""
    recorder = case_log.recorder
    assert isinstance(recorder, CaseChainRecorder)
    return recorder


def open_projections(case_log: CaseLog, rules: str | None = None, page: int = PAGE
                     ) -> ProjectionRunner:
    """The projection runner over the case log's store, with the default views; the rule
    pack and calendar are the case log's own when it judges by a pack (read once)."""
    return ProjectionRunner(recorder_of(case_log), _views(case_log, rules), page=page)


def open_ledger(case_log: CaseLog) -> Ledger:
    """The Merkle ledger over the case log (its tables in the same database)."""
    return Ledger(recorder_of(case_log))


def auto_checkpoint(ledger: Ledger, key: str | Path | None, seconds: float, events: int
                    ) -> AutoCheckpoint | None:
    """Signed checkpoints made as the log grows, when a signing key file is given
    (`SigningKeyError` naming a key that cannot be used)."""
    if key is None:
        return None
    return AutoCheckpoint(ledger, load_private_key(key), seconds, events)


def open_service(case_log: CaseLog, runner: ProjectionRunner, tokens: str | Path, *,
                 max_lag: int = 100_000, follow_interval: float = 1.0,
                 key: str | Path | None = None, checkpoint_every: float = 60.0,
                 checkpoint_events: int = 10_000, listing_slots: int | None = None
                 ) -> Components:
    """What the HTTP API works on: the case log and its views, the token file, the access
    log, the ledger (with signed checkpoints when `key` is given) and the group appender;
    `listing_slots`: supervision listings computed at once (default: cores − 1, at least 1)."""
    ledger = open_ledger(case_log)
    components = Components(case_log, runner, TokenFile(tokens),
                            access_log=AccessLog(recorder_of(case_log)), ledger=ledger,
                            max_lag=max_lag, follow_interval=follow_interval,
                            checkpoints=auto_checkpoint(ledger, key, checkpoint_every,
                                                        checkpoint_events))
    if listing_slots is not None:  # else Components' default
        components.listing_slots = listing_slots
    return components


def kafka_settings(bootstrap_servers: str, client: dict[str, Any] | None = None,
                   **topics: str) -> KafkaSettings:
    """Where and how to reach the brokers, and the topics (`ConfigurationError` naming a
    setting that cannot be used)."""
    from casechain.adapters.kafka_producer import KafkaSettings

    return KafkaSettings(bootstrap_servers, client=client or {}, **topics)


def open_publisher(case_log: CaseLog, settings: KafkaSettings, page: int = 1000
                   ) -> OutboundPublisher:
    """The publisher of committed events to the outbound topic, resuming where it left."""
    from casechain.adapters.kafka_producer import OutboundPublisher

    return OutboundPublisher(recorder_of(case_log), settings, page=page)


def _views(case_log: CaseLog, rules: str | None) -> list[Any]:
    if isinstance(case_log.rules, LawBook):
        pack, calendar = case_log.rules.pack, case_log.rules.calendar
    else:
        pack = load_pack(rules_path_from(rules))
        calendar = calendar_of(pack)
    return default_views(pack, calendar)


def _replay_store(url: str, rules: str | None, clock: Callable[[], datetime]
                  ) -> tuple[CaseLog, ProjectionRunner]:
    case_log = open_case_log(url, rules, clock=clock)
    try:
        return case_log, open_projections(case_log, rules)
    except BaseException:
        case_log.close()
        raise


def replay_log(log: Path, rules: str | None, as_of: datetime, db_url: str | None = None
               ) -> replay.Replay:
    """Replay a log into a throw-away store (`application.replay.replay`)."""
    return replay.replay(log, rules, as_of, _replay_store, db_url)


def replay_compare(log: Path, new_rules: str, old_rules: str, as_of: datetime
                   ) -> dict[str, Any]:
    """The same log under two rule packs (`application.replay.compare`)."""
    return replay.compare(log, new_rules, old_rules, as_of, _replay_store)


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
            again = ProjectionRunner(scratch, fresh, page=runner.page, source=case_log.store)
            again.catch_up(until=until, on_page=on_page)
            recomputed = again.view_digests()
        finally:
            engine.dispose()
    return {name: (stored[name], recomputed[name]) for name in stored}
