"""Import of JSON Lines logs: file order, streamed, every rejected line reported.

`import_file` appends one line after another. `import_in_parallel` (a PostgreSQL store)
shares the lines among worker processes by case, each appending its cases' lines in file
order: see its docstring for what stays the same and what does not.
"""

from __future__ import annotations

import gc
import multiprocessing
import queue
import traceback
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from casechain.application.case_log import AppendOutcome, CaseLog
from casechain.batching import bulk_gc
from casechain.domain.bounds import MAX_ENVELOPE_BYTES
from casechain.domain.payloads import PAYLOADS
from casechain.errors import CaseChainError

__all__ = ["IMPORT_BATCH", "ImportFailed", "ImportSummary", "RejectedLine", "import_file",
           "import_in_parallel"]

#: Envelopes per transaction on import: large enough that commits are a small share of the
#: time, small enough that memory stays a few megabytes whatever the size of the log.
IMPORT_BATCH = 5000
#: Events between explicit garbage collections during an import (see `_bulk_gc`).
COLLECT_EVERY = 100_000


@dataclass(frozen=True)
class RejectedLine:
    """A line that was not appended: its number, ids and every rule it broke."""

    line: int
    case_id: str | None
    event_id: str | None
    rejections: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"line": self.line, "case_id": self.case_id, "event_id": self.event_id,
                "rejections": self.rejections}


@dataclass
class ImportSummary:
    """Counts of an import."""

    file: str
    lines: int = 0
    appended: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejected_lines: list[RejectedLine] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the rejected lines in line order)."""
        return {"file": self.file, "lines": self.lines, "appended": self.appended,
                "duplicates": self.duplicates, "rejected": self.rejected,
                "rejections": [r.as_dict() for r in sorted(self.rejected_lines,
                                                           key=lambda r: r.line)]}


def import_file(case_log: CaseLog, path: Path, *, batch_size: int = IMPORT_BATCH,
                on_bytes: Callable[[int], None] | None = None,
                on_rejected: Callable[[RejectedLine], None] | None = None) -> ImportSummary:
    """Append every line of `path` in file order; call back per byte read and per rejection."""
    summary = ImportSummary(file=str(path))
    lines: deque[int] = deque()

    def rejected(entry: RejectedLine) -> None:
        summary.rejected += 1
        summary.rejected_lines.append(entry)
        if on_rejected:
            on_rejected(entry)

    def envelopes(handle: BinaryIO) -> Iterator[object]:
        for number, _, value in _decode(handle, summary, rejected, on_bytes):
            lines.append(number)
            yield value

    with path.open("rb") as handle, bulk_gc():
        _append(case_log, envelopes(handle), lines, batch_size, summary, rejected)
    return summary


def _append(case_log: CaseLog, envelopes: Iterable[object], lines: deque[int],
            batch_size: int, summary: ImportSummary,
            rejected: Callable[[RejectedLine], None]) -> None:
    """Append `envelopes` (the line number of each in `lines`, filled as they are read) and
    count their outcomes into `summary`."""
    outcomes = case_log.append_many(envelopes, batch_size=batch_size, ahead=True)
    for count, outcome in enumerate(outcomes, start=1):
        if count % COLLECT_EVERY == 0:
            gc.collect()
        line = lines.popleft()
        if outcome.status == "appended":
            summary.appended += 1
        elif outcome.status == "duplicate":
            summary.duplicates += 1
        else:
            rejected(_rejected_line(line, outcome))


def _decode(handle: BinaryIO, summary: ImportSummary,
            rejected: Callable[[RejectedLine], None],
            on_bytes: Callable[[int], None] | None) -> Iterator[tuple[int, bytes, object]]:
    """(line number, line, decoded value) of each line that is JSON within the size bound;
    the others are reported to `rejected` here."""
    unreported = 0
    for number, raw in enumerate(handle, start=1):
        if on_bytes:  # progress in steps of about 1 MB: a call per line costs a few µs
            unreported += len(raw)
            if unreported >= 1 << 20:
                on_bytes(unreported)
                unreported = 0
        if not raw.strip():
            continue
        summary.lines += 1
        if len(raw) > MAX_ENVELOPE_BYTES + 2:  # the line's own break may follow
            rejected(RejectedLine(number, None, None, [{
                "code": "SCHEMA_INVALID", "field": None, "value": len(raw),
                "message": f"line {number} is {len(raw):,} bytes; an envelope is at most "
                           f"{MAX_ENVELOPE_BYTES:,} bytes (256 KiB)"}]))
            continue
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            rejected(RejectedLine(number, None, None, [{
                "code": "SCHEMA_INVALID", "field": None, "value": None,
                "message": f"line {number} is not valid JSON: {exc}"}]))
            continue
        yield number, raw, value
    if on_bytes and unreported:
        on_bytes(unreported)


# -- in parallel -------------------------------------------------------------------------
#: Lines handed to a worker at a time (by default), and chunks waiting for each worker at most
#: (the file is read at most this far ahead of the slowest worker).
PARALLEL_CHUNK, PARALLEL_QUEUED = 1000, 8
#: Seconds the dispatcher waits on a worker before looking whether it still runs.
_POLL = 1.0
_SETTLE, _END = "settle", "end"
#: The events of a device's own stream. A penalty resting on the device's captures is judged
#: against that stream (APL Art. 41), whichever worker holds the case: these lines are
#: appended alone, after every line before them and before every line after them.
_DEVICE_TYPES = frozenset(t for t in PAYLOADS if t.startswith("device."))


class ImportFailed(CaseChainError):
    """A worker process of a parallel import stopped; the lines committed before stay."""


def import_in_parallel(open_log: Callable[[], CaseLog], path: Path, *, workers: int,
                       batch_size: int = IMPORT_BATCH, chunk: int = PARALLEL_CHUNK,
                       on_bytes: Callable[[int], None] | None = None,
                       on_rejected: Callable[[RejectedLine], None] | None = None
                       ) -> ImportSummary:
    """Append every line of `path` with `workers` processes, each opening its own case log
    with `open_log` (picklable: the workers are spawned) and appending the lines of the
    cases it is given, in file order; this process reads the file and deals the lines out
    by case id. Worth it where the rows are written by a server (PostgreSQL): one process
    judging and hashing keeps one core busy, and the server's writing does not fill another.

    The same as `import_file`: every line gets the outcome it gets there — a case's lines are
    judged in file order against what came before them in the file; a device's own events
    (`device.registered`, `device.retired`) are appended alone, with every line before them
    committed and none after them started, so a penalty resting on a device's captures sees
    that device as the file has it at its line. What differs: the global positions
    interleave the workers' batches (each case's events keep their order); and of two lines
    of *different* cases carrying the same event_id (refused either way), the one committed
    first is kept — not necessarily the earlier line. Raises `ImportFailed` when a worker
    stops; what the workers committed before stays, and importing the file again appends
    only the rest (the others are duplicates)."""
    summary = ImportSummary(file=str(path))

    def rejected(entry: RejectedLine) -> None:
        summary.rejected += 1
        summary.rejected_lines.append(entry)
        if on_rejected:
            on_rejected(entry)

    crew = _Crew(open_log, workers, batch_size, chunk, summary, rejected)
    try:
        with path.open("rb") as handle:
            for number, raw, value in _decode(handle, summary, rejected, on_bytes):
                worker = _worker_of(value, workers)
                if _is_device_event(value):
                    crew.settle(_SETTLE)
                    crew.send(worker, number, raw)
                    crew.settle(_SETTLE)
                else:
                    crew.send(worker, number, raw)
        crew.settle(_END)
    finally:
        crew.stop()
    return summary


def _worker_of(value: object, workers: int) -> int:
    """The worker of a line: by its case id (any worker would refuse a line without one)."""
    case_id = value.get("case_id") if isinstance(value, dict) else None
    if not isinstance(case_id, str):
        return 0
    return zlib.crc32(case_id.encode("utf-8", "surrogatepass")) % workers


def _is_device_event(value: object) -> bool:
    return isinstance(value, dict) and value.get("type") in _DEVICE_TYPES


class _Crew:
    """The worker processes of a parallel import, and the dispatcher's side of their queues."""

    def __init__(self, open_log: Callable[[], CaseLog], workers: int, batch_size: int,
                 chunk: int, summary: ImportSummary,
                 rejected: Callable[[RejectedLine], None]) -> None:
        context = multiprocessing.get_context("spawn")  # nothing inherited: no threads, no pool
        self.summary, self.rejected, self.chunk = summary, rejected, chunk
        self.outbox: multiprocessing.Queue[Any] = context.Queue()
        self.inboxes: list[multiprocessing.Queue[Any]] = [
            context.Queue(PARALLEL_QUEUED) for _ in range(workers)]
        self.chunks: list[list[tuple[int, bytes]]] = [[] for _ in range(workers)]
        self.processes: list[BaseProcess] = [
            context.Process(target=_work, args=(n, open_log, self.inboxes[n], self.outbox,
                                                batch_size),
                            name=f"casechain-import-{n}", daemon=True)
            for n in range(workers)]
        #: The workers that have settled since the last signal, and that signal.
        self.settled: set[int] = set()
        self.signal = _SETTLE
        try:
            for process in self.processes:
                process.start()
        except BaseException:
            self.stop()  # those started already
            raise

    def send(self, worker: int, number: int, raw: bytes) -> None:
        chunk = self.chunks[worker]
        chunk.append((number, raw))
        if len(chunk) >= self.chunk:
            self._put(worker, chunk)
            self.chunks[worker] = []

    def settle(self, signal: str) -> None:
        """Hand out what is dealt, then wait until every worker has committed all of it
        (`_END`: and has stopped)."""
        self.settled.clear()
        self.signal = signal
        for worker, chunk in enumerate(self.chunks):
            if chunk:
                self._put(worker, chunk)
                self.chunks[worker] = []
            self._put(worker, signal)
        while len(self.settled) < len(self.processes):
            self._take(self._next())
        if signal == _END:
            for process in self.processes:
                process.join()

    def stop(self) -> None:
        """Stop the workers still running (the import failed or was interrupted); chunks a
        stopped worker never took are dropped, not waited on at exit."""
        for process in self.processes:
            if process.pid is None:
                continue  # never started
            if process.is_alive():
                process.terminate()
            process.join()
        for inbox in self.inboxes:
            inbox.cancel_join_thread()
            inbox.close()

    def _put(self, worker: int, item: object) -> None:
        while True:
            try:
                self.inboxes[worker].put(item, timeout=_POLL)
                break
            except queue.Full:
                self._check()
            finally:
                self._take_ready()

    def _take_ready(self) -> None:
        while True:
            try:
                message = self.outbox.get_nowait()
            except queue.Empty:
                return
            self._take(message)

    def _next(self) -> Any:
        while True:
            try:
                return self.outbox.get(timeout=_POLL)
            except queue.Empty:
                self._check()

    def _take(self, message: Any) -> None:
        """Count a worker's message in."""
        kind = message[0]
        if kind == "rejected":
            self.rejected(message[1])
            return
        if kind == "failed":
            raise ImportFailed(f"import worker {message[1]} failed:\n{message[2]}")
        _, worker, appended, duplicates = message
        self.summary.appended += appended
        self.summary.duplicates += duplicates
        self.settled.add(worker)

    def _check(self) -> None:
        self._take_ready()  # a worker that failed said why before it stopped
        for number, process in enumerate(self.processes):
            ended = self.signal == _END and number in self.settled
            if not ended and not process.is_alive():
                raise ImportFailed(f"import worker {number} stopped (exit code "
                                   f"{process.exitcode}) before the import was done")


def _work(number: int, open_log: Callable[[], CaseLog], inbox: multiprocessing.Queue[Any],
          outbox: multiprocessing.Queue[Any], batch_size: int) -> None:
    """A worker: append the lines received, run after run; after each run (ended by the
    dispatcher's signal), commit everything and say how many were appended."""
    try:
        case_log = open_log()
    except BaseException:
        outbox.put(("failed", number, traceback.format_exc()))
        return
    try:
        with bulk_gc():
            signal: list[str] = []
            while not signal or signal[-1] != _END:
                lines: deque[int] = deque()
                run = ImportSummary(file="")
                _append(case_log, _received(inbox, lines, signal), lines, batch_size, run,
                        lambda entry: outbox.put(("rejected", entry)))
                outbox.put(("settled", number, run.appended, run.duplicates))
    except BaseException:
        outbox.put(("failed", number, traceback.format_exc()))
    finally:
        case_log.close()


def _received(inbox: multiprocessing.Queue[Any], lines: deque[int], signal: list[str]
              ) -> Iterator[object]:
    """The envelopes of the chunks received, until a signal (noted in `signal`)."""
    while True:
        item = inbox.get()
        if isinstance(item, str):
            signal.append(item)
            return
        for number, raw in item:
            lines.append(number)
            yield orjson.loads(raw)


def _rejected_line(line: int, outcome: AppendOutcome) -> RejectedLine:
    return RejectedLine(line, outcome.case_id, outcome.event_id,
                        [r.as_dict() for r in outcome.rejections])


