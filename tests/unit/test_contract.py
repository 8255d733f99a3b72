"""docs/contract.md, the contract a service team reads, names exactly the event types,
rejection codes and alert codes the engine knows (it cannot drift from the code)."""

from __future__ import annotations

import re
from pathlib import Path

from casechain.application.reference import events_markdown
from casechain.domain.deadlines import ALERT_LABELS
from casechain.domain.payloads import PAYLOADS
from casechain.errors import CODES

PAGE = (Path(__file__).resolve().parents[2] / "docs" / "contract.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    return PAGE.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_the_event_types_listed_are_the_engines() -> None:
    """Every event type has its row, with its required payload fields; no other type is listed."""
    listed = re.findall(r"^\| `([a-z]+\.[a-z_]+)` \|", _section("Event types"), re.M)
    assert sorted(listed) == sorted(PAYLOADS)
    for event_type, model in PAYLOADS.items():
        row = next(line for line in PAGE.splitlines() if line.startswith(f"| `{event_type}` |"))
        for name, field in model.model_fields.items():
            if field.is_required():
                assert f"`{name}`" in row, (event_type, name)


def test_the_rejection_codes_listed_are_the_engines_in_order() -> None:
    """The codes appear in the engine's order, most fundamental first."""
    listed = re.findall(r"`([A-Z_]+)`", _section("Rejections").split("\n\n")[2])
    assert listed == list(CODES)


def test_the_alert_codes_listed_are_the_engines() -> None:
    """Every alert code has its row with its zh-CN label."""
    listed = re.findall(r"^\| `([A-Z0-9_]+)` \| ([^|]+) \|", _section("Deadlines and alerts"), re.M)
    assert {code: label.strip() for code, label in listed} == {
        code: zh for code, (zh, _, _) in ALERT_LABELS.items()}


def test_the_event_reference_is_generated_from_the_payload_models() -> None:
    """docs/events.md is exactly what the models render: a changed payload fails until regenerated."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text(encoding="utf-8")
    assert page == events_markdown(), (
        "docs/events.md is stale: .venv/bin/python -m casechain.application.reference > docs/events.md")


def test_the_event_reference_lists_every_type_with_its_required_fields() -> None:
    """Each event type has its section, and each required payload field its row marked yes."""
    page = events_markdown()
    for event_type, model in PAYLOADS.items():
        section = page.split(f"### `{event_type}` — ", 1)[1].split("\n### ", 1)[0]
        for name, field in model.model_fields.items():
            assert f"| `{name}` | {'yes' if field.is_required() else 'no'} |" in section
