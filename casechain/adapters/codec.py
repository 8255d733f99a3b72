"""Stored form of Case events, written without building library event objects.

`encode` produces exactly the state the library's `Mapper` with its `JSONTranscoder` writes
for `Case.Opened` / `Case.Recorded` (same keys, same JSON), so the library's repository reads
the events back as a `Case`; tests/unit/test_codec.py holds it to that. It exists because
building the library event and mapping it costs about 30 µs an event, and a batched import
spends about 10 µs an event on everything else.
"""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from casechain.domain.case import Case, case_uuid

__all__ = ["OPENED_TOPIC", "RECORDED_TOPIC", "decode_record", "encode", "encode_canonical"]

OPENED_TOPIC = get_topic(Case.Opened)
RECORDED_TOPIC = get_topic(Case.Recorded)
_CASE_TOPIC = get_topic(Case)


def encode(record: dict[str, Any], recorded_at: str) -> StoredEvent:
    """The stored event of one record (seq 1 is the case's `Opened` event); `recorded_at`
    is the ISO form of the library's timestamp."""
    stamp = {"_type_": "datetime_iso", "_data_": recorded_at}
    if record["seq"] == 1:
        state = {"timestamp": stamp, "originator_topic": _CASE_TOPIC, "record": record}
        topic = OPENED_TOPIC
    else:
        state = {"timestamp": stamp, "record": record}
        topic = RECORDED_TOPIC
    return StoredEvent(originator_id=case_uuid(record["case_id"]),
                       originator_version=record["seq"], topic=topic,
                       state=orjson.dumps(state))


_OPENED_PREFIX = b'"originator_topic":' + orjson.dumps(_CASE_TOPIC) + b","


def encode_canonical(case_id: str, seq: int, canonical: bytes, digest: str,
                     recorded_at: str) -> StoredEvent:
    """The same stored event as `encode`, built from the record's canonical JSON (as hashed,
    without `hash`) with `hash` added at its end: the record is serialised once, not twice.
    JSON objects are unordered, so the state decodes to the same record."""
    record = canonical[:-1] + b',"hash":"' + digest.encode() + b'"}'
    stamp = b'{"timestamp":{"_type_":"datetime_iso","_data_":"' + recorded_at.encode() + b'"},'
    if seq == 1:
        state, topic = stamp + _OPENED_PREFIX + b'"record":' + record + b"}", OPENED_TOPIC
    else:
        state, topic = stamp + b'"record":' + record + b"}", RECORDED_TOPIC
    return StoredEvent(originator_id=case_uuid(case_id), originator_version=seq, topic=topic,
                       state=state)


def decode_record(state: bytes) -> dict[str, Any]:
    """The record held in a stored event's state."""
    record: dict[str, Any] = orjson.loads(state)["record"]
    return record
