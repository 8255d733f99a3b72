"""The hash chain's canonical JSON is RFC 8785's (docs/contract.md, "Ledger")."""

from __future__ import annotations

import hashlib

import pytest
import rfc8785
from hypothesis import example, given, settings
from hypothesis import strategies as st

from casechain.domain.hashing import (
    GENESIS_HASH,
    CanonicalJSONError,
    canonical_json,
    event_hash,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None)
@given(json_values)
@example(100.0)
@example(-0.0)
@example({"a": [1e-7, 1e21, 1e16, 123456789012345.6, 0.0001]})
@example({"\U0001f600": 1, "\ue000": 2, "z": "\x00\x1f\x7f\u2028"})
def test_canonical_json_is_byte_for_byte_rfc8785(value: object) -> None:
    """Our fast canonical form equals the reference RFC 8785 implementation on any JSON."""
    assert canonical_json(value) == rfc8785.dumps(value)


def test_an_event_hash_is_sha256_of_the_canonical_fields() -> None:
    """hash = SHA-256 over the canonical JSON of the fields plus prev_hash."""
    fields = {"event_id": "e", "payload": {"b": 1, "a": "张三"}, "seq": 1, "prev_hash": GENESIS_HASH}
    expected = hashlib.sha256(
        '{"event_id":"e","payload":{"a":"张三","b":1},"prev_hash":"'.encode()
        + GENESIS_HASH.encode() + b'","seq":1}').hexdigest()
    assert event_hash(fields) == expected


def test_the_hash_changes_with_any_field() -> None:
    """Changing one character of any hashed field changes the hash."""
    fields = {"event_id": "e", "payload": {"amount": 5000}, "seq": 2, "prev_hash": "a" * 64}
    assert event_hash(fields) != event_hash({**fields, "payload": {"amount": 5001}})
    assert event_hash(fields) != event_hash({**fields, "prev_hash": "b" * 64})


def test_a_number_without_an_exact_json_form_is_an_error_not_a_silent_hash() -> None:
    """Integers beyond ±2^53 have no RFC 8785 form: hashing them fails loudly."""
    with pytest.raises(CanonicalJSONError):
        canonical_json({"amount": 2**60})


def test_an_amount_sent_as_a_float_hashes_like_the_integer_and_is_stored_as_one() -> None:
    """5000.0 and 5000 have one canonical form; the record keeps the integer."""
    record = {"payload": {"penalties": [{"kind": "fine", "amount": 5000.0}]}, "seq": 1}
    expected = hashlib.sha256(rfc8785.dumps(record)).hexdigest()
    assert event_hash(record) == expected
    assert record["payload"]["penalties"][0]["amount"] == 5000
    assert type(record["payload"]["penalties"][0]["amount"]) is int
