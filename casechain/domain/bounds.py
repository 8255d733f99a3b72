"""The bounds of an envelope (docs/errors.md, "Bounds"): what is accepted stays readable.

Every view, query, export and replay must read whatever the engine accepts, on SQLite and
PostgreSQL alike, so the envelope is bounded before it is judged: nesting, size, control
characters and surrogates, string lengths, numbers and instants. The same checks run for
HTTP, Kafka and import, because all three go through `parse_envelope`.

The structural checks work on the envelope serialised once with orjson (about 1 µs for a
usual event) and walk the value only when that serialisation shows a possible problem, so
the walk that names the offending field costs nothing on good input.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, AwareDatetime, Field

from casechain.errors import Rejection

__all__ = [
    "EARLIEST",
    "FUTURE_SKEW",
    "LATEST",
    "MAX_AMOUNT",
    "MAX_DEPTH",
    "MAX_ENVELOPE_BYTES",
    "MAX_ID",
    "MAX_NAME",
    "MAX_TEXT",
    "Amount",
    "BusinessDate",
    "Id",
    "Instant",
    "Name",
    "Text",
    "structural_problems",
]

#: Deepest nesting of objects and arrays in one envelope (the envelope itself is level 1).
MAX_DEPTH = 32
#: Largest envelope, as compact JSON (HTTP answers 413 above it).
MAX_ENVELOPE_BYTES = 256 * 1024
#: Longest id (case, actor, subject, device, tracing ids), name and free text, in characters.
MAX_ID, MAX_NAME, MAX_TEXT = 64, 200, 20_000
#: Largest amount in yuan (10^12: more than any fine or goods value a case has held).
MAX_AMOUNT = 10**12
#: Earliest business instant; the latest is bounded by the clock (`FUTURE_SKEW` ahead).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
#: Latest instant any date field may name (far enough for a hearing or a permit's end,
#: near enough that every calendar computation stays inside Python's dates).
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
#: How far ahead of the recording clock an event may be dated (clocks drift).
FUTURE_SKEW = timedelta(minutes=10)

_NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f]*$"
#: An id or a code: one line, no control characters.
Id = Annotated[str, Field(min_length=1, max_length=MAX_ID, pattern=_NO_CONTROL)]
#: A name (person, organisation, team, court): one line.
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME, pattern=_NO_CONTROL)]
#: Free text (facts, findings, reasons): line breaks and tabs allowed.
Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


def _two_decimals(value: float | int) -> float | int:
    if isinstance(value, float) and Decimal(repr(value)).as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("an amount in yuan has at most two decimals (分)")
    return value


#: An amount in yuan: a JSON number (never a boolean or a string), 0 to 10^12, two decimals.
Amount = (Annotated[float, Field(strict=True, ge=0, le=MAX_AMOUNT, allow_inf_nan=False),
                    AfterValidator(_two_decimals)]
          | Annotated[int, Field(strict=True, ge=0, le=MAX_AMOUNT)])


#: An instant with an offset, between 2000-01-01 and 2100-01-01 (compared in UTC by the
#: validator itself: no Python call per value, no overflow for the year 9999 at -12:00).
Instant = Annotated[AwareDatetime, Field(ge=EARLIEST, lt=LATEST)]
#: A calendar date of the business (an act, a permit's end), from 1980 to 2099.
BusinessDate = Annotated[date, Field(ge=date(1980, 1, 1), lt=LATEST.date())]

# Escaped C0 controls other than \t \n \r, DEL and C1 controls as orjson writes them.
# A backslash before the escape (an escaped backslash) makes a false alarm, never a miss:
# the walk then decides.
_SUSPECT = re.compile(rb"\\u00[01][0-9a-f]|\\[bf]|\x7f|\xc2[\x80-\x9f]")
_BAD_CHAR = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def structural_problems(raw: dict[str, Any]) -> list[Rejection]:
    """Why `raw` cannot be an envelope whatever its fields say: too deep, too large, not
    JSON, or holding a string with a control character or longer than free text may be."""
    try:
        data = orjson.dumps(raw)  # refuses nesting beyond 255, surrogates, non-JSON values
    except (orjson.JSONEncodeError, TypeError) as exc:
        return _too_deep_problems(raw, _where(raw)) or [_not_json(raw, _where(raw), exc)]
    if data.count(b"{") + data.count(b"[") > MAX_DEPTH:  # brackets in strings count: a bound
        deep = _too_deep_problems(raw, _where(raw))
        if deep:
            return deep
    if len(data) <= MAX_TEXT and not _SUSPECT.search(data):
        return []  # the usual envelope: nothing more to look at
    where = _where(raw)
    problems = []
    if len(data) > MAX_ENVELOPE_BYTES:
        problems.append(Rejection(
            "SCHEMA_INVALID", f"{where}the envelope is {len(data):,} bytes as JSON; at most "
            f"{MAX_ENVELOPE_BYTES:,} bytes (256 KiB) are accepted — keep documents in the "
            "evidence store and send their sha256", None, len(data)))
    # A string holds a control character, or is longer than free text may be.
    for path, text in _strings(raw):
        if _BAD_CHAR.search(text):
            bad = _BAD_CHAR.search(text)
            assert bad is not None
            problems.append(Rejection(
                "SCHEMA_INVALID", f"{where}field {path} holds the control character "
                f"U+{ord(bad.group()):04X} at position {bad.start()}; only line breaks and "
                "tabs are allowed, in free text", path, None))
        elif len(text) > MAX_TEXT:
            problems.append(Rejection(
                "SCHEMA_INVALID", f"{where}field {path} is {len(text):,} characters long; "
                f"free text is at most {MAX_TEXT:,}", path, None))
    return problems


def _where(raw: dict[str, Any]) -> str:
    case_id = raw.get("case_id")
    if isinstance(case_id, str) and len(case_id) <= MAX_ID and not _BAD_CHAR.search(case_id):
        return f"case {case_id}: "
    return ""


def _too_deep_problems(raw: object, where: str) -> list[Rejection]:
    deep = _too_deep(raw)
    if deep is None:
        return []
    return [Rejection("SCHEMA_INVALID", f"{where}field {deep} is nested more than {MAX_DEPTH} "
                      f"levels deep; an envelope is at most {MAX_DEPTH} levels", deep, None)]


def _too_deep(raw: object) -> str | None:
    """The path of the first value nested deeper than MAX_DEPTH, without recursion."""
    stack: list[tuple[object, str, int]] = [(raw, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return path or "(envelope)"
        if isinstance(value, dict):
            stack.extend((v, f"{path}.{k}" if path else str(k), depth + 1)
                         for k, v in value.items() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]", depth + 1)
                         for i, v in enumerate(value) if isinstance(v, (dict, list)))
    return None


def _strings(raw: object) -> Iterator[tuple[str, str]]:
    """Every string of a (bounded-depth) JSON value with its path; keys count too."""
    stack: list[tuple[object, str]] = [(raw, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            yield path or "(envelope)", value
        elif isinstance(value, dict):
            for key, item in value.items():
                inner = f"{path}.{key}" if path else str(key)
                yield inner, str(key)
                stack.append((item, inner))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(value))


def _not_json(raw: dict[str, Any], where: str, exc: Exception) -> Rejection:
    for path, text in _strings(raw):
        if _BAD_CHAR.search(text):
            return Rejection("SCHEMA_INVALID", f"{where}field {path} holds an unpaired "
                             "surrogate; strings must be valid Unicode", path, None)
    return Rejection("SCHEMA_INVALID", f"{where}the envelope holds a value JSON cannot carry "
                     f"({exc}); numbers beyond 64 bits go as strings", None, None)
