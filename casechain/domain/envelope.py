"""The event envelope of DESIGN.md: what services send and what `export` writes.

`parse_envelope` turns one decoded JSON object into an `Envelope` or raises
`EventRejected` with every schema problem at once, each naming the field and the value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from casechain.domain.payloads import PAYLOADS, Payload
from casechain.errors import EventRejected, Rejection

__all__ = ["ENGINE_FIELDS", "Actor", "Envelope", "parse_envelope"]

CaseId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Jurisdiction = Annotated[str, Field(pattern=r"^[0-9]{2,12}$")]
Hash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

#: Fields the engine sets; present on export, checked (never trusted blindly) on import.
ENGINE_FIELDS = ("seq", "position", "recorded_at", "prev_hash", "hash")


class Actor(BaseModel):
    """Who did it: an officer (with 执法证号 `cert_no`), a reviewer, a service, ..."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(min_length=1)]
    role: Annotated[str, Field(min_length=1)]
    org: str | None = None
    cert_no: str | None = None


class Envelope(BaseModel):
    """One event as sent by a service, or as exported with the engine-set fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID
    case_id: CaseId
    type: str
    occurred_at: AwareDatetime
    actor: Actor
    jurisdiction: Jurisdiction
    payload: dict[str, Any]
    expected_seq: Annotated[int, Field(ge=0)] | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    source: str | None = None
    schema_version: Annotated[int, Field(ge=1)] = 1
    # Engine-set, present when a previously exported log is imported (restore).
    seq: Annotated[int, Field(ge=1)] | None = None
    position: Annotated[int, Field(ge=1)] | None = None
    recorded_at: AwareDatetime | None = None
    prev_hash: Hash | None = None
    hash: Hash | None = None

    @property
    def is_restore(self) -> bool:
        """True when the line carries a hash from an earlier export."""
        return self.hash is not None

    def body(self, payload: Payload) -> dict[str, Any]:
        """The stored business fields, JSON-ready, with the validated payload."""
        body: dict[str, Any] = {
            "event_id": str(self.event_id),
            "case_id": self.case_id,
            "type": self.type,
            "occurred_at": _iso(self.occurred_at),
            "actor": self.actor.model_dump(mode="json", exclude_none=True),
            "jurisdiction": self.jurisdiction,
            "payload": payload.model_dump(mode="json", exclude_unset=True),
            "schema_version": self.schema_version,
        }
        for name in ("correlation_id", "causation_id", "source"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def parse_envelope(raw: object) -> tuple[Envelope, Payload]:
    """Validate one decoded envelope; raise EventRejected naming every bad field."""
    if not isinstance(raw, dict):
        raise EventRejected([Rejection("SCHEMA_INVALID", f"an envelope must be a JSON object, "
                                       f"got {type(raw).__name__}", None, None)])
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as exc:
        rejections = _schema_rejections(exc, prefix="", case_id=_str_or_none(raw.get("case_id")))
        rejections += _type_rejections(raw.get("type"))
        raise EventRejected(rejections, case_id=_str_or_none(raw.get("case_id")),
                            event_id=_str_or_none(raw.get("event_id"))) from None
    model = PAYLOADS.get(envelope.type)
    if model is None:
        raise EventRejected(_type_rejections(envelope.type), case_id=envelope.case_id,
                            event_id=str(envelope.event_id))
    try:
        payload = model.model_validate(envelope.payload)
    except ValidationError as exc:
        raise EventRejected(_schema_rejections(exc, prefix="payload.", event_type=envelope.type,
                                               case_id=envelope.case_id),
                            case_id=envelope.case_id, event_id=str(envelope.event_id)) from None
    return envelope, payload


def _type_rejections(event_type: object) -> list[Rejection]:
    if not isinstance(event_type, str) or event_type in PAYLOADS:
        return []
    stage = event_type.split(".", 1)[0]
    known = sorted(t for t in PAYLOADS if t.startswith(stage + "."))
    hint = f"; {stage} types are {', '.join(known)}" if known else ""
    return [Rejection("UNKNOWN_EVENT_TYPE",
                      f"field type: value {event_type!r} is not an event type of the contract "
                      f"(DESIGN.md, event types){hint}", "type", event_type)]


def _schema_rejections(exc: ValidationError, *, prefix: str, event_type: str | None = None,
                       case_id: str | None = None) -> list[Rejection]:
    rejections = []
    where = f"case {case_id}: " if case_id else ""
    for error in exc.errors(include_url=False):
        field = prefix + ".".join(str(part) for part in error["loc"])
        value = _jsonable(error.get("input"))
        if error["type"] == "missing":
            what, value = "is required", None
        else:
            what = f"value {_shown(error.get('input'))} is invalid: {error['msg']}"
        if error["type"] == "extra_forbidden":
            what = f"is not a field of the envelope (value {_shown(error.get('input'))})"
        rule = f" for {event_type}" if event_type else ""
        rejections.append(Rejection("SCHEMA_INVALID", f"{where}field {field} {what}{rule}", field,
                                    value))
    return rejections


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _jsonable(value: object) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return _shown(value)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
