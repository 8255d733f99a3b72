"""The per-case hash chain of docs/contract.md ("Ledger").

`hash = SHA-256(RFC 8785 canonical JSON of the hashed fields)` where the hashed fields are
the stored business fields of the envelope plus the engine-set `seq`, `recorded_at` and
`prev_hash` (64 zeros for seq 1). `position` is not hashed: it is the global order, which
the Merkle ledger covers.

The `rfc8785` package is the reference canonicaliser but costs about 45 µs an event; orjson
with sorted keys writes the same bytes in about 1.5 µs for everything except a few number
forms (exponents, integral floats such as `100.0`, integers beyond 2^53) and key orders
involving characters outside the Basic Multilingual Plane. `canonical_json` walks the value
once and uses orjson unless it holds one of those, falling back to `rfc8785`; a property test
checks the result equals `rfc8785.dumps` on arbitrary JSON.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import rfc8785

from casechain.errors import CaseChainError

__all__ = [
    "GENESIS_HASH",
    "CanonicalJSONError",
    "canonical_json",
    "event_hash",
    "record_hash",
]

GENESIS_HASH = "0" * 64

_MAX_EXACT_INT = 2**53 - 1


class CanonicalJSONError(CaseChainError, ValueError):
    """The value has no RFC 8785 form (e.g. an integer beyond ±2^53, NaN)."""


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical JSON of a JSON value."""
    if _orjson_agrees(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            pass
    try:
        return rfc8785.dumps(value)
    except Exception as exc:  # rfc8785 raises its own error types per domain problem
        raise CanonicalJSONError(str(exc)) from exc


def event_hash(hashed: dict[str, Any]) -> str:
    """Hex SHA-256 of the canonical JSON of the hashed fields."""
    return hashlib.sha256(canonical_json(hashed)).hexdigest()


def record_hash(record: dict[str, Any]) -> tuple[str, bytes]:
    """`event_hash` of a stored record (without its `hash`), and the canonical bytes hashed.
    The record's fields outside `payload` are validated strings (ASCII keys) and small
    integers: only the payload needs the canonical-form check."""
    canonical: bytes | None = None
    if _orjson_agrees(record["payload"]):
        try:
            canonical = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            canonical = None
    if canonical is None:
        canonical = canonical_json(record)
    return hashlib.sha256(canonical).hexdigest(), canonical


def _orjson_agrees(value: Any) -> bool:
    """True when orjson's sorted output is the RFC 8785 form: no float that would be written
    with an exponent, no integer beyond 2^53, no key outside the BMP. Strings need no check:
    both escape exactly the same characters.

    Integral floats inside containers (an amount sent as `5000.0`) are replaced in place by the
    equal integer: RFC 8785 writes both as `5000`, so the hash is unchanged, and the stored
    record then hashes on the fast path again when it is exported and re-imported."""
    if type(value) is float:
        return not value.is_integer() and 1e-4 <= abs(value) < 1e16
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            for key in item:
                if type(key) is not str or (not key.isascii() and max(key) > "\uffff"):
                    return False
            children: Any = item.items()
        elif kind is list:
            children = enumerate(item)
        elif kind is int:
            if not -_MAX_EXACT_INT <= item <= _MAX_EXACT_INT:
                return False
            continue
        elif kind is str or kind is bool or item is None:
            continue
        else:
            return False
        for key, child in children:
            child_kind = type(child)
            if child_kind is dict or child_kind is list:
                stack.append(child)
            elif child_kind is float:
                if not _float_ok(item, key, child):
                    return False
            elif child_kind is int:
                if not -_MAX_EXACT_INT <= child <= _MAX_EXACT_INT:
                    return False
            elif not (child_kind is str or child_kind is bool or child is None):
                return False
    return True


def _float_ok(container: Any, key: Any, number: float) -> bool:
    if number.is_integer():
        if abs(number) <= _MAX_EXACT_INT:
            container[key] = int(number)
            return True
        return False
    return 1e-4 <= abs(number) < 1e16
