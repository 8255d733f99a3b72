"""Events written by the batch path are exactly what the library's mapper writes."""

from __future__ import annotations

from datetime import UTC, datetime

from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, UUIDAsHex

from casechain.adapters import codec
from casechain.domain.case import Case


def _mapper() -> Mapper:  # type: ignore[type-arg]
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    return Mapper(transcoder)


def _record(seq: int) -> dict[str, object]:
    return {"event_id": f"e{seq}", "case_id": "HZ-1", "type": "penalty.evidence_collected",
            "occurred_at": "2024-03-01T09:30:00+08:00", "jurisdiction": "330106",
            "payload": {"amount": 12.5, "name": "张三"}, "seq": seq,
            "recorded_at": "2024-03-01T01:30:00+00:00", "prev_hash": "0" * 64, "hash": "f" * 64}


def test_the_batch_codec_matches_the_library_mapper() -> None:
    """Opened and Recorded events encode to state the library decodes to the same event."""
    recorded_at = datetime(2024, 3, 1, 1, 30, tzinfo=UTC)
    case = Case.open(_record(1), recorded_at)
    case.record(_record(2), recorded_at)
    library_events = case.collect_events()
    mapper = _mapper()
    for library_event in library_events:
        ours = codec.encode(library_event.record, recorded_at.isoformat())  # type: ignore[attr-defined]
        theirs = mapper.to_stored_event(library_event)
        assert (ours.originator_id, ours.originator_version, ours.topic) == (
            theirs.originator_id, theirs.originator_version, theirs.topic)
        assert vars(mapper.to_domain_event(ours)) == vars(library_event)


def test_the_library_rebuilds_the_case_from_batch_written_events() -> None:
    """Folding decoded events through the library's aggregate gives the case's state."""
    recorded_at = datetime(2024, 3, 1, 1, 30, tzinfo=UTC)
    mapper = _mapper()
    events = [mapper.to_domain_event(codec.encode(_record(n), recorded_at.isoformat())) for n in (1, 2)]
    case = None
    for event in events:
        case = event.mutate(case)  # type: ignore[attr-defined]
    assert isinstance(case, Case)
    assert (case.version, case.file.seq, case.file.state) == (2, 2, "evidence_collected")


def test_the_canonical_codec_writes_the_same_event_as_the_plain_one() -> None:
    """Built from the hashed canonical bytes, the stored state decodes to the same event."""
    from casechain.domain.hashing import record_hash

    mapper = _mapper()
    for seq in (1, 2):
        record = _record(seq)
        del record["hash"]
        digest, canonical = record_hash(record)
        record["hash"] = digest
        plain = codec.encode(record, "2024-03-01T01:30:00+00:00")
        fast = codec.encode_canonical("HZ-1", seq, canonical, digest, "2024-03-01T01:30:00+00:00")
        assert (fast.originator_id, fast.originator_version, fast.topic) == (
            plain.originator_id, plain.originator_version, plain.topic)
        assert vars(mapper.to_domain_event(fast)) == vars(mapper.to_domain_event(plain))
