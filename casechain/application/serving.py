"""The running service: the case log, its views, tokens, access log, ledger, the group
appender, and the follower that keeps views, ledger and checkpoints up. `bootstrap.
open_service` builds it; the HTTP API works on it.
"""

from __future__ import annotations

import os
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import structlog
from eventsourcing.persistence import PersistenceError

from casechain.adapters.access_log import AccessLog
from casechain.adapters.ledger import AutoCheckpoint, Ledger
from casechain.adapters.tokens import TokenFile
from casechain.application.appending import GroupAppender
from casechain.application.case_log import CaseLog
from casechain.errors import CaseChainError
from casechain.projections.machinery import ProjectionRunner

__all__ = ["Components", "default_listing_slots"]

log = structlog.get_logger("casechain.http")


def default_listing_slots() -> int:
    """How many supervision listings are computed at once by default: one core fewer than
    this process may use (at least one), so a case read always finds a core free."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 2) - 1)


@dataclass
class Components:
    """What the API works on: the case log, its views, tokens, access log and ledger."""

    case_log: CaseLog
    runner: ProjectionRunner
    tokens: TokenFile
    access_log: AccessLog
    ledger: Ledger
    max_lag: int = 100_000
    follow_interval: float = 1.0
    #: Supervision listings (alerts, summaries, deadlines, board, referrals, statistics,
    #: exports, ...) computed at once; more wait their turn, holding no thread. Case reads,
    #: appends and proofs never wait for them.
    listing_slots: int = field(default_factory=default_listing_slots)
    appender: GroupAppender = field(init=False)
    #: One ledger catch-up at a time (the follower's and a proof's); reads of the views do
    #: not wait for each other (the runner catches up one caller at a time).
    ledger_lock: threading.Lock = field(default_factory=threading.Lock)
    follower: threading.Thread | None = None
    follower_error: str | None = None
    #: Signed checkpoints made by the follower itself (serve --key).
    checkpoints: AutoCheckpoint | None = None

    def __post_init__(self) -> None:
        self.appender = GroupAppender(self.case_log)

    def follow(self, stop: threading.Event) -> None:
        """Keep the views and the ledger caught up until `stop` is set. A failure is logged
        and shown by /readyz until a later round succeeds; the thread never dies of one."""
        self.follower_error = None
        while not stop.wait(self.follow_interval):
            try:
                self.runner.keep_up()
                with self.ledger_lock:
                    self.ledger.catch_up()
                if self.checkpoints is not None:
                    self.checkpoints.maybe()
            except Exception as exc:  # say so, keep answering, try again next round
                if isinstance(exc, (CaseChainError, PersistenceError)):
                    log.warning("follow.failed", error=str(exc).strip())
                else:  # a defect: with its traceback
                    log.exception("follow.crashed")
                self.follower_error = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
            else:
                self.follower_error = None

    def reads_together(self) -> AbstractContextManager[None]:
        """One request's reads on one connection (see `ViewStore.one_connection`)."""
        return self.runner.store.one_connection()

    def follower_state(self) -> str:
        """"ok", or why the views and the ledger are not being kept up."""
        if self.follower is not None and not self.follower.is_alive():
            return "the follower thread has stopped"
        return f"failing: {self.follower_error}" if self.follower_error else "ok"
