"""Import of JSON Lines logs: file order, streamed, every rejected line reported."""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from casechain.application.case_log import AppendOutcome, CaseLog
from casechain.batching import bulk_gc
from casechain.domain.bounds import MAX_ENVELOPE_BYTES

__all__ = ["IMPORT_BATCH", "ImportSummary", "RejectedLine", "import_file"]

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

    with path.open("rb") as handle, bulk_gc():
        envelopes = _decode(handle, lines, summary, rejected, on_bytes)
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
    return summary


def _decode(handle: BinaryIO, lines: deque[int], summary: ImportSummary,
            rejected: Callable[[RejectedLine], None],
            on_bytes: Callable[[int], None] | None) -> Iterator[object]:
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
        lines.append(number)
        yield value
    if on_bytes and unreported:
        on_bytes(unreported)


def _rejected_line(line: int, outcome: AppendOutcome) -> RejectedLine:
    return RejectedLine(line, outcome.case_id, outcome.event_id,
                        [r.as_dict() for r in outcome.rejections])


