"""The log's latest records, decoded once in this process.

Beside a writer, the end of the log is read again and again: the follower's round catches the
views up one at a time (each reading the same new events), every case read looks at the
events the cross-case view has not folded yet, a reader's catch-up reads them once more.
Each read decoded every event it returned; under the city benchmark's stress (py-spy) a
case read spent about 15 % of its interpreter time decoding that tail, mostly the same
events as the read before it.

`RecentRecords` keeps the latest stretch of the log decoded (at most 5,000 records by
default, about 2.4 KB each once decoded: 12 MB) and answers a read that starts inside it
from memory, reading from the store only the events after the last it holds. It relies on
the log's positions being gap-free and committed in order (the store's writers number their
rows under the table's write lock): once position n has been read, everything up to n is
final and never changes, so what is held answers exactly what the store would.
"""

from __future__ import annotations

import bisect
import threading
from operator import itemgetter
from typing import Any

from casechain.projections.store import LogSource

__all__ = ["RecentRecords"]

Record = tuple[int, dict[str, Any]]
_position = itemgetter(0)


class RecentRecords:
    """A `LogSource` that holds the log's latest `keep` records, decoded, for the readers of
    the log's end. A read starting before what it holds (a rebuild's pages) goes to the
    store and is not kept, unless it is a short read to the end, which then becomes what is
    held. The records handed out are shared: no reader may change them (views never do)."""

    def __init__(self, source: LogSource, keep: int = 5_000) -> None:
        self._source = source
        self._keep = keep
        self._lock = threading.Lock()
        self._records: list[Record] = []
        #: Every record with a position in (after, through] is in `_records`.
        self._after = 0
        self._through = -1  # nothing held yet: every read misses until one is kept

    def records_after(self, start: int, limit: int, stop: int | None = None) -> list[Record]:
        """(position, record) of the events after `start` (up to `stop`), in order, at most
        `limit` of them — what the store answers, from memory where it is held."""
        with self._lock:
            if self._after <= start <= self._through:
                complete = self._read_on(stop)
                if self._after <= start:
                    first = bisect.bisect_right(self._records, start, key=_position)
                    last = (len(self._records) if stop is None else
                            bisect.bisect_right(self._records, stop, key=_position))
                    if complete or last - first >= limit:
                        return self._records[first:min(last, first + limit)]
        found = self._source.records_after(start, limit, stop)
        if len(found) < min(limit, self._keep):  # a short read to the end: the new stretch
            with self._lock:
                if start > self._through or start < self._after:
                    self._records, self._after = found, start
                    self._through = found[-1][0] if found else start
        return found

    def _read_on(self, stop: int | None) -> bool:
        """Read the events after those held (up to `stop`) into the stretch; whether it now
        holds everything up to `stop` (None: everything recorded)."""
        if stop is not None and stop <= self._through:
            return True
        fresh = self._source.records_after(self._through, self._keep, stop)
        if fresh:
            self._records.extend(fresh)
            self._through = fresh[-1][0]
            excess = len(self._records) - self._keep
            if excess > 0:
                self._after = self._records[excess - 1][0]
                del self._records[:excess]
        return len(fresh) < self._keep
