"""Appending as a principal, and group commit: the append use case of the HTTP API.

`append_as` appends envelopes each under its own principal, with the rules of import, in one
batch; whether the principal may append each one is asked inside the append transaction,
against the case as recorded then (`domain.access.append_problems`). `GroupAppender` puts the
envelopes of concurrent requests in one transaction (group commit), each still judged alone
and in arrival order, each request getting its own outcomes back.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import structlog

from casechain.application.case_log import AppendOutcome, CaseLog
from casechain.domain.access import Principal, append_problems
from casechain.domain.envelope import Envelope
from casechain.errors import Rejection

__all__ = ["GroupAppender", "append_as"]

log = structlog.get_logger("casechain.append")


def append_as(case_log: CaseLog, items: list[tuple[Principal, Any]]) -> list[AppendOutcome]:
    """Append envelopes in order, each under its own principal, with the rules of import in
    one batch. Whether the principal may append is decided inside the append transaction,
    against the case as recorded then (`domain.access.append_problems`): one that may not
    is rejected alone (OUT_OF_SCOPE / FORBIDDEN)."""
    def guard(index: int, env: Envelope, held: str | None) -> list[Rejection]:
        principal = items[index][0]
        problems = append_problems(principal, env, held)
        if problems:
            log.info("event.refused", principal=principal.id, case_id=env.case_id,
                     event_id=str(env.event_id), codes=[p.code for p in problems])
        return problems

    return list(case_log.append_many([raw for _, raw in items], guard=guard))


@dataclass
class _Request:
    items: list[tuple[Principal, Any]]
    done: Future[list[AppendOutcome]] = field(default_factory=Future)


class GroupAppender:
    """Appends concurrent requests together: whatever has queued while the previous group
    was being written goes in one transaction (group commit). Each envelope is still judged
    on its own and in arrival order; each request gets its own outcomes back."""

    def __init__(self, case_log: CaseLog, max_group: int = 1000) -> None:
        self.case_log = case_log
        self.max_group = max_group
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, principal: Principal, raws: list[Any]) -> Future[list[AppendOutcome]]:
        """Queue a request's envelopes; the future gives their outcomes, in order."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="casechain-appender")
                self._thread.start()
        request = _Request([(principal, raw) for raw in raws])
        self._queue.put(request)
        return request.done

    def queued(self) -> int:
        """Requests waiting for the appending thread (not yet taken into a group)."""
        return self._queue.qsize()

    def close(self) -> None:
        """Finish what is queued and stop the appending thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=60)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, size, last = [first], len(first.items), False
            while size < self.max_group:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    last = True
                    break
                group.append(more)
                size += len(more.items)
            self._append(group)
            if last:
                return

    def _append(self, group: list[_Request]) -> None:
        try:
            outcomes = append_as(self.case_log, [i for r in group for i in r.items])
        except BaseException as exc:  # the store failed: every waiter hears it
            for request in group:
                request.done.set_exception(exc)
            return
        start = 0
        for request in group:
            mine = outcomes[start:start + len(request.items)]
            for index, outcome in enumerate(mine):
                outcome.index = index
            request.done.set_result(mine)
            start += len(request.items)
