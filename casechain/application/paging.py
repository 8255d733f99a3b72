"""Pages of a listing: at most `limit` rows after an opaque cursor, and the total.

A cursor is the sort key of the last row a page gave, base64url-encoded JSON: the next page
is the rows whose key is greater (keyset paging), so rows appended meanwhile never shift a
page or repeat a row — they appear in order where they fall. A cursor names nothing the
reader could not see: it holds only the last row's key (due instant, case id, code).
"""

from __future__ import annotations

import base64
import binascii
import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from casechain.errors import QueryInvalid

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Page", "after_cursor", "check_limit", "cursor_of",
           "every_row", "page_rows", "paged", "single_key_after"]

#: Rows a page holds unless the reader asks otherwise, and at most: a page of alerts or
#: board rows stays well under 2 MB.
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000

Key = tuple[Any, ...]
K = TypeVar("K", str, int)

_NOT_OURS = ("is not a cursor of this listing (take next_cursor from the previous page, or "
             "leave it out to start)")


@dataclass(frozen=True)
class Page:
    """A page: its rows, how many the whole listing holds, and the cursor of the next page
    (None on the last)."""

    rows: list[dict[str, Any]]
    total: int
    next_cursor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def cursor_of(key: Key) -> str:
    """The cursor that continues after a row with this sort key."""
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def after_cursor(cursor: str | None, width: int | None = None) -> Key | None:
    """The sort key a cursor continues after (None: from the start); `QueryInvalid` naming
    `cursor` for one this listing did not give."""
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError, orjson.JSONDecodeError):
        key = None
    if (not isinstance(key, list) or (width is not None and len(key) != width)
            or not all(isinstance(part, (str, int, float)) for part in key)):
        raise QueryInvalid("cursor", cursor[:80], _NOT_OURS)
    return tuple(key)


def single_key_after(cursor: str | None, kind: type[K]) -> K | None:
    """The one-part key (a device id, an entry's number…) a cursor continues after, None
    from the start; `QueryInvalid` naming `cursor` for one not of this listing's kind."""
    after = after_cursor(cursor, 1)
    if after is None:
        return None
    if not isinstance(after[0], kind):
        raise QueryInvalid("cursor", cursor, _NOT_OURS)
    return after[0]


def instant_key_after(cursor: str | None) -> tuple[float, str, str, str] | None:
    """The key a cursor of a listing in instant order continues after (epoch seconds, case,
    code, step), None from the start; `QueryInvalid` naming `cursor` otherwise."""
    after = after_cursor(cursor, 4)
    if after is None:
        return None
    if not (isinstance(after[0], (int, float)) and all(isinstance(p, str) for p in after[1:])):
        raise QueryInvalid("cursor", cursor, _NOT_OURS)
    return float(after[0]), str(after[1]), str(after[2]), str(after[3])


def every_row(page_after: Callable[[str | None], Page]) -> Iterator[dict[str, Any]]:
    """Every row of a listing, read a page at a time (`page_after(cursor)`; None: the first)
    and handed on as it comes: a whole listing of the city's year in the memory of a page."""
    cursor: str | None = None
    while True:
        page = page_after(cursor)
        yield from page.rows
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def check_limit(limit: int | None) -> int:
    """The page size asked for, within 1…MAX_LIMIT (`QueryInvalid` naming `limit`)."""
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryInvalid("limit", limit, f"is not between 1 and {MAX_LIMIT:,}")
    return limit


def paged(rows: Sequence[dict[str, Any]], key: Callable[[dict[str, Any]], Key],
          limit: int | None, cursor: str | None) -> Page:
    """A page of rows already sorted by `key`: those after the cursor, at most `limit`."""
    size = check_limit(limit)
    after = after_cursor(cursor, len(key(rows[0])) if rows else None)
    start = 0 if after is None else bisect.bisect_right(rows, after, key=key)
    chosen = list(rows[start:start + size])
    more = start + size < len(rows)
    return Page(chosen, len(rows), cursor_of(key(chosen[-1])) if more and chosen else None)


def page_rows(rows: list[dict[str, Any]], total: int, limit: int,
              key: Callable[[dict[str, Any]], Key]) -> Page:
    """A page from rows read with `LIMIT limit + 1` after a keyset cursor: the extra row
    says there is a next page."""
    more = len(rows) > limit
    chosen = rows[:limit]
    return Page(chosen, total, cursor_of(key(chosen[-1])) if more and chosen else None)

