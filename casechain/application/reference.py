"""docs/events.md, generated from the payload models so the reference cannot drift.

`events_markdown()` renders every event type of the contract: its zh-CN label, what it
records and its payload's fields (required or not, type, allowed values, bounds), read from
the same JSON Schema the HTTP API publishes. Regenerate after changing a payload model:

    .venv/bin/python -m casechain.application.reference > docs/events.md

A test compares the file with this function's output.
"""

from __future__ import annotations

from typing import Any

from casechain.domain.envelope import envelope_schema
from casechain.domain.payloads import EVENT_LABELS, PAYLOADS, STAGE_LABELS

__all__ = ["events_markdown"]

_HEAD = """\
# Event types and their payloads

Generated from the payload models (`casechain/domain/payloads.py`) by
`python -m casechain.application.reference`; a test fails when this file and the models
disagree. The same schemas are in the HTTP API's OpenAPI document (`GET /openapi.json`,
`/docs`, `/redoc`): `Envelope` is a union of one schema per event type, chosen by `type`.

Every event is sent in the envelope of docs/contract.md (`event_id`, `case_id`, `type`,
`occurred_at`, `actor`, `jurisdiction`, `payload`, ...). A payload may carry more fields than
listed here: they are stored as sent. The rules that need more than one field or the case's
history (two officers, limitation, notice before decision, ...) are in docs/rules.md.
"""


def events_markdown() -> str:
    """The whole of docs/events.md."""
    schema = envelope_schema()
    defs: dict[str, Any] = schema["$defs"]
    parts = [_HEAD]
    for stage, label in STAGE_LABELS.items():
        types = [t for t in PAYLOADS if t.split(".", 1)[0] == stage]
        if types:
            parts.append(f"\n## {label} `{stage}`\n")
            parts.extend(_event(t, defs) for t in types)
    parts.append(_nested(defs))
    return "\n".join(parts)


def _event(event_type: str, defs: dict[str, Any]) -> str:
    model = PAYLOADS[event_type]
    lines = [f"### `{event_type}` — {EVENT_LABELS[event_type]}", "",
             " ".join((model.__doc__ or "").split()), ""]
    lines.extend(_fields(defs[model.__name__]))
    return "\n".join(lines) + "\n"


def _fields(model_schema: dict[str, Any]) -> list[str]:
    properties: dict[str, Any] = model_schema.get("properties", {})
    if not properties:
        return ["No payload fields: `{}`."]
    required = set(model_schema.get("required", []))
    rows = ["| field | required | type |", "|---|---|---|"]
    rows.extend(f"| `{name}` | {'yes' if name in required else 'no'} | {_type(spec)} |"
                for name, spec in properties.items())
    return rows


def _type(spec: dict[str, Any]) -> str:
    """A field's JSON Schema in a few words: `string` (≤ 64), one of `a`, `b`, ..."""
    if "$ref" in spec:
        name = spec["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in spec:
        return " or ".join(_type(s) for s in spec["anyOf"] if s.get("type") != "null")
    if "enum" in spec:
        return "one of " + ", ".join(f"`{v}`" for v in spec["enum"])
    if "const" in spec:
        return f"`{spec['const']}`"
    kind = spec.get("type", "any")
    if kind == "array":
        return f"list of {_type(spec.get('items', {}))}" + _bounds(spec, "minItems", "maxItems")
    if kind == "object" and "additionalProperties" in spec:
        return f"object of {_type(spec['additionalProperties'])}"
    shown = spec.get("format", kind)
    return f"{shown}{_bounds(spec, 'minLength', 'maxLength')}{_bounds(spec, 'minimum', 'maximum')}"


def _bounds(spec: dict[str, Any], low: str, high: str) -> str:
    shown = []
    if spec.get(low) not in (None, 0, 1):
        shown.append(f"≥ {spec[low]}")
    if high in spec:
        shown.append(f"≤ {spec[high]:,}")
    return f" ({', '.join(shown)})" if shown else ""


def _nested(defs: dict[str, Any]) -> str:
    """The objects used inside payloads (subject, officer, reviewer, penalty)."""
    payloads = {m.__name__ for m in PAYLOADS.values()}
    names = sorted(n for n in defs if n not in payloads and not n.startswith("Envelope_"))
    parts = ["\n## Objects inside payloads\n"]
    for name in names:
        parts.append(f"### {name}\n\n{' '.join(defs[name].get('description', '').split())}\n")
        parts.append("\n".join(_fields(defs[name])) + "\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(events_markdown(), end="")
