"""The event envelope of the contract (docs/contract.md): what services send and what `export` writes.

`parse_envelope` turns one decoded JSON object into an `Envelope` or raises
`EventRejected` with every schema problem at once, each naming the field and the value.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
)

from casechain.domain.bounds import Id, Instant, structural_problems
from casechain.domain.payloads import EVENT_LABELS, PAYLOADS
from casechain.errors import EventRejected, Rejection

__all__ = ["ENGINE_FIELDS", "TYPED_ENVELOPES", "Actor", "Envelope", "Role", "envelope_schema",
           "parse_envelope"]

CaseId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
#: An administrative division code (3301 city, 330106 district, 330106001 street), ASCII digits.
Jurisdiction = Annotated[str, Field(pattern=r"^[1-9][0-9]{1,11}$")]
#: The roles a token may carry and an actor may name (docs/contract.md, Interfaces).
Role = Literal["officer", "reviewer", "supervisor", "auditor", "service", "admin"]
Count = Annotated[int, Field(strict=True, ge=0, le=10**9)]
Hash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

#: Fields the engine sets; present on export, checked (never trusted blindly) on import.
ENGINE_FIELDS = ("seq", "position", "recorded_at", "prev_hash", "hash")


class Actor(BaseModel):
    """Who did it: an officer (with 执法证号 `cert_no`), a reviewer, a service, ..."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Id
    role: Role
    org: Id | None = None
    cert_no: Id | None = None


class Envelope(BaseModel):
    """One event as sent by a service, or as exported with the engine-set fields.

    `parse_envelope` returns an instance of the type's own subclass, whose `payload` is the
    validated payload model of that type.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID
    case_id: CaseId
    type: str
    occurred_at: Instant
    actor: Actor
    jurisdiction: Jurisdiction
    payload: Any
    expected_seq: Count | None = None
    correlation_id: Id | None = None
    causation_id: Id | None = None
    source: Id | None = None
    schema_version: Annotated[int, Field(strict=True, ge=1, le=1000)] = 1
    # Engine-set, present when a previously exported log is imported (restore).
    seq: Annotated[int, Field(ge=1, le=10**9)] | None = None
    position: Annotated[int, Field(ge=1, le=10**15)] | None = None
    recorded_at: Instant | None = None
    prev_hash: Hash | None = None
    hash: Hash | None = None

    @property
    def is_restore(self) -> bool:
        """True when the line carries a hash from an earlier export."""
        return self.hash is not None

    def body(self) -> dict[str, Any]:
        """The stored business fields, JSON-ready: what was sent, normalised, without the
        engine-set fields and `expected_seq` (a request, not a fact)."""
        body: dict[str, Any] = self.model_dump(mode="json", exclude_unset=True)
        if len(body.keys() & _NOT_STORED):  # rare: a restore line or an expected_seq
            for name in _NOT_STORED:
                body.pop(name, None)
        body["schema_version"] = self.schema_version
        return body


class _AnyEnvelope(Envelope):
    """The envelope with a free-form payload: used to report envelope problems of a line
    whose type is missing or unknown."""

    payload: dict[str, Any]


_NOT_STORED = {"expected_seq", *ENGINE_FIELDS}

#: One envelope model per event type, its `payload` typed; chosen by `type` in one pass.
TYPED_ENVELOPES: dict[str, type[Envelope]] = {
    event_type: create_model(
        "Envelope_" + event_type.replace(".", "_"), __base__=Envelope,
        __doc__=f"{EVENT_LABELS[event_type]}（`{event_type}`）: {model.__doc__}",
        type=(Literal[event_type], ...),  # type: ignore[arg-type]  # a runtime Literal
        payload=(model, ...))
    for event_type, model in PAYLOADS.items()
}
_ADAPTER: TypeAdapter[Envelope] = TypeAdapter(
    Annotated[Union[tuple(TYPED_ENVELOPES.values())],  # type: ignore[arg-type]  # noqa: UP007
              Field(discriminator="type")])


def envelope_schema(ref_template: str = "#/$defs/{model}") -> dict[str, Any]:
    """The JSON Schema of an inbound envelope: a union of one schema per event type,
    discriminated by `type`, each naming its payload's own schema (in `$defs`)."""
    return _ADAPTER.json_schema(ref_template=ref_template)


def parse_envelope(raw: object) -> Envelope:
    """Validate one decoded envelope; raise EventRejected naming every bad field.

    The bounds (depth, size, control characters) are checked first: a value that breaks them
    is never handed to the validator or quoted in a message."""
    if not isinstance(raw, dict):
        raise EventRejected([Rejection("SCHEMA_INVALID", f"an envelope must be a JSON object, "
                                       f"got {type(raw).__name__}", None, None)])
    problems = structural_problems(raw)
    if problems:
        raise EventRejected(problems, case_id=_id_or_none(raw.get("case_id")),
                            event_id=_id_or_none(raw.get("event_id")))
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise _rejected(raw, exc) from None


def _rejected(raw: dict[str, Any], exc: ValidationError) -> EventRejected:
    case_id, event_id = _id_or_none(raw.get("case_id")), _id_or_none(raw.get("event_id"))
    event_type = raw.get("type")
    if isinstance(event_type, str) and event_type in TYPED_ENVELOPES:
        rejections = _schema_rejections(exc, event_type=event_type, case_id=case_id)
    else:
        # No usable type: report the envelope's other problems, then the type itself.
        try:
            _AnyEnvelope.model_validate(raw)
            rejections = []
        except ValidationError as plain:
            rejections = _schema_rejections(plain, event_type=None, case_id=case_id)
        rejections += _type_rejections(event_type)
    return EventRejected(rejections, case_id=case_id, event_id=event_id)


def _type_rejections(event_type: object) -> list[Rejection]:
    if event_type is None:
        return []
    if not isinstance(event_type, str):
        return [Rejection("SCHEMA_INVALID", f"field type: value {_shown(event_type)} is not a "
                          "string", "type", _jsonable(event_type))]
    if event_type in PAYLOADS:
        return []
    stage = event_type.split(".", 1)[0]
    known = sorted(t for t in PAYLOADS if t.startswith(stage + "."))
    hint = f"; {stage} types are {', '.join(known)}" if known else ""
    return [Rejection("UNKNOWN_EVENT_TYPE",
                      f"field type: value {_shown(event_type)} is not an event type of the contract "
                      f"(docs/contract.md, event types){hint}", "type", event_type)]


def _schema_rejections(exc: ValidationError, *, event_type: str | None,
                       case_id: str | None) -> list[Rejection]:
    rejections = []
    where = f"case {case_id}: " if case_id else ""
    fields: set[str] = set()
    for error in exc.errors(include_url=False):
        loc = error["loc"][1:] if event_type and error["loc"][:1] == (event_type,) else error["loc"]
        field = ".".join(str(part) for part in loc if not _UNION_TAG.search(str(part)))
        if field in fields:
            continue  # the other members of a union (int | float, list | str) say it again
        fields.add(field)
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


#: How pydantic names the member of a union in an error's location (`constrained-int`,
#: `function-after[...]`, `list[...]`, `str`); not a field of the envelope.
_UNION_TAG = re.compile(r"^(?:constrained-\w+|function-\w+\[.*|list\[.*|str|int|float|bool)$")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _jsonable(value: object) -> Any:
    if value is None or isinstance(value, (int, float, bool)):
        return value
    if isinstance(value, str) and len(value) <= 80:
        return value
    return _shown(value)


def _id_or_none(value: object) -> str | None:
    """An id as the caller sent it, for the answer; None when it is no usable id (a
    rejection must itself stay within the bounds it enforces)."""
    if isinstance(value, str) and 0 < len(value) <= 64 and value.isprintable():
        return value
    return None
