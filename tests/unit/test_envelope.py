"""The envelope and the payload of every event type (docs/contract.md, "Event types and payloads")."""

from __future__ import annotations

import pytest

from casechain.domain.envelope import parse_envelope
from casechain.domain.payloads import EVENT_LABELS, PAYLOADS
from casechain.errors import EventRejected
from tests.factories import PAYLOADS as VALID_PAYLOADS
from tests.factories import envelope

DESIGN_TYPES = {
    "approval": ["granted", "rejected", "pushed_to_supervision", "revoked"],
    "supervision": ["clue_registered", "dispatched", "acknowledged", "departed", "arrived",
                    "inspected", "risk_graded", "correction_ordered", "correction_verified",
                    "closed"],
    "penalty": ["case_filed", "evidence_collected", "measure_imposed", "measure_released",
                "investigation_concluded", "legal_review_completed", "notice_served",
                "statement_received", "statement_waived", "hearing_requested", "hearing_waived",
                "hearing_noticed",
                "hearing_held", "collective_discussion_held", "deadline_extended",
                "clock_suspended", "clock_resumed", "decided", "decision_served", "paid",
                "enforcement_applied", "closed", "terminated", "device_evidence_reviewed",
                "party_informed"],
    "referral": ["assessed", "reported", "approved", "rejected", "transferred",
                 "police_accepted", "police_filed", "police_declined",
                 "reconsideration_requested", "reconsideration_decided",
                 "procuratorate_supervision_requested", "materials_handed_over", "returned"],
    "evaluation": ["case_file_reviewed", "supervision_finding", "reconsideration_decided",
                   "litigation_decided", "due_diligence_exemption", "credit_updated",
                   "completed"],
    "case": ["transferred"],
    "device": ["registered", "retired"],
}
ALL_TYPES = sorted(f"{stage}.{name}" for stage, names in DESIGN_TYPES.items() for name in names)

# Required payload fields per type, as docs/contract.md lists them.
REQUIRED = {
    "approval.granted": ["subject", "permit_no", "item_code", "valid_until"],
    "supervision.clue_registered": ["subject", "source", "urgent", "description"],
    "supervision.inspected": ["joint", "departments", "violation_found", "item_codes", "findings"],
    "penalty.case_filed": ["item_code", "subject", "act_date", "officers", "procedure"],
    "penalty.evidence_collected": ["kind", "sha256", "collected_by"],
    "penalty.investigation_concluded": ["facts", "amount_involved", "illegal_gains",
                                        "circumstances", "harm", "corrected", "major_or_complex"],
    "penalty.legal_review_completed": ["reviewer", "opinion"],
    "penalty.notice_served": ["proposed", "hearing_right"],
    "penalty.decided": ["outcome", "penalties", "discretion_level"],
    "referral.transferred": ["police_org"],
    "evaluation.case_file_reviewed": ["score", "issues"],
}


def codes(excinfo: pytest.ExceptionInfo[EventRejected]) -> list[str]:
    return [r.code for r in excinfo.value.rejections]


def test_every_design_event_type_has_a_payload_model_and_a_label() -> None:
    """The engine knows exactly the event types of the contract, each with a zh-CN label."""
    assert sorted(PAYLOADS) == ALL_TYPES
    assert sorted(EVENT_LABELS) == ALL_TYPES


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_a_complete_envelope_of_each_type_is_accepted(event_type: str) -> None:
    """A well-formed envelope with the required payload fields validates."""
    parsed = parse_envelope(envelope(event_type))
    assert parsed.type == event_type
    assert parsed.body()["payload"] == VALID_PAYLOADS[event_type]


@pytest.mark.parametrize(("event_type", "field"),
                         [(t, f) for t, fields in REQUIRED.items() for f in fields])
def test_a_missing_required_payload_field_is_named(event_type: str, field: str) -> None:
    """Leaving out a required payload field gives SCHEMA_INVALID naming that field."""
    raw = envelope(event_type)
    del raw["payload"][field]
    with pytest.raises(EventRejected) as excinfo:
        parse_envelope(raw)
    assert codes(excinfo) == ["SCHEMA_INVALID"]
    assert excinfo.value.rejections[0].field == f"payload.{field}"
    assert f"payload.{field} is required for {event_type}" in str(excinfo.value)


def test_every_bad_field_is_reported_at_once() -> None:
    """An envelope with several bad fields lists each of them, naming field and value."""
    raw = envelope(case_id="bad id!", jurisdiction="West Lake", occurred_at="2024-03-01T09:30:00")
    with pytest.raises(EventRejected) as excinfo:
        parse_envelope(raw)
    fields = {r.field: r for r in excinfo.value.rejections}
    assert set(fields) == {"case_id", "jurisdiction", "occurred_at"}
    assert "'West Lake'" in fields["jurisdiction"].message
    assert fields["occurred_at"].value == "2024-03-01T09:30:00"


def test_a_bad_value_inside_the_payload_names_the_nested_field_and_value() -> None:
    """A subject of an unknown kind is refused, naming payload.subject.kind and the value."""
    raw = envelope()
    raw["payload"]["subject"] = {**raw["payload"]["subject"], "kind": "company"}
    with pytest.raises(EventRejected) as excinfo:
        parse_envelope(raw)
    rejection = excinfo.value.rejections[0]
    assert (rejection.code, rejection.field, rejection.value) == (
        "SCHEMA_INVALID", "payload.subject.kind", "company")
    assert "case HZ-2024-0001" in rejection.message


def test_an_unknown_event_type_is_refused_with_its_own_code() -> None:
    """A type that is not in the contract gives UNKNOWN_EVENT_TYPE, naming the type."""
    with pytest.raises(EventRejected) as excinfo:
        parse_envelope(envelope("penalty.fined"))
    assert codes(excinfo) == ["UNKNOWN_EVENT_TYPE"]
    assert "'penalty.fined'" in str(excinfo.value)
    assert "penalty.decided" in str(excinfo.value)


@pytest.mark.parametrize("bad_type", [[], {"a": 1}, 7])
def test_a_type_that_is_not_a_string_is_schema_invalid(bad_type: object) -> None:
    """A list, object or number as the type is SCHEMA_INVALID naming the field (found by
    schemathesis: a list used to crash the parser)."""
    with pytest.raises(EventRejected) as excinfo:
        parse_envelope(envelope(type=bad_type))
    assert "SCHEMA_INVALID" in codes(excinfo)
    assert any(r.field == "type" for r in excinfo.value.rejections)


def test_schema_problems_come_before_an_unknown_type() -> None:
    """The most fundamental problem is reported first."""
    with pytest.raises(EventRejected) as excinfo:
        parse_envelope(envelope("penalty.fined", event_id="not-a-uuid"))
    assert codes(excinfo) == ["SCHEMA_INVALID", "UNKNOWN_EVENT_TYPE"]


def test_a_misspelt_envelope_field_is_refused_not_ignored() -> None:
    """An unknown top-level field (a typo) is SCHEMA_INVALID, not silently dropped."""
    raw = envelope()
    raw["ocurred_at"] = raw["occurred_at"]
    with pytest.raises(EventRejected) as excinfo:
        parse_envelope(raw)
    assert [r.field for r in excinfo.value.rejections] == ["ocurred_at"]


def test_a_json_value_that_is_not_an_object_is_refused() -> None:
    """A line holding a list or a number is SCHEMA_INVALID."""
    with pytest.raises(EventRejected) as excinfo:
        parse_envelope([1, 2])
    assert codes(excinfo) == ["SCHEMA_INVALID"]


def test_extra_payload_detail_is_kept_as_sent() -> None:
    """A service may send more than the required fields; the extra detail is stored."""
    raw = envelope()
    raw["payload"]["team"] = "综合执法"
    assert parse_envelope(raw).body()["payload"]["team"] == "综合执法"
