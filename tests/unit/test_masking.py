"""Masking persons' ids (docs/contract.md: masked in views for roles that do not need them)."""

from __future__ import annotations

import pytest

from casechain.domain.access import mask_id, mask_persons, sees_person_ids


@pytest.mark.parametrize(("value", "masked"), [
    ("330106199001011234", "3301**********1234"),   # 身份证号: region and last four remain
    ("P68018465858", "P680****5858"),
    ("AB12345", "A*****5"),                          # short ids keep one character each end
    ("AB", "**"),
])
def test_an_id_keeps_only_its_ends(value: str, masked: str) -> None:
    assert mask_id(value) == masked
    assert len(mask_id(value)) == len(value)


def test_persons_are_masked_at_any_depth_and_organisations_never() -> None:
    body = {"subject": {"id": "330106199001011234", "kind": "person", "name": "张某"},
            "timeline": [{"payload": {"subject": {"id": "91330106MA27XXXX0A",
                                                  "kind": "organisation"}}}],
            "cases": [{"subject_id": "330106199001011234"}, {"subject_id": "91330106MA27XXXX0A"}]}
    masked = mask_persons(body, {"330106199001011234"})
    assert masked["subject"]["id"] == "3301**********1234"
    assert masked["subject"]["name"] == "张某"
    assert masked["timeline"][0]["payload"]["subject"]["id"] == "91330106MA27XXXX0A"
    assert [c["subject_id"] for c in masked["cases"]] == ["3301**********1234",
                                                          "91330106MA27XXXX0A"]
    assert body["subject"]["id"] == "330106199001011234"  # the input is left alone


@pytest.mark.parametrize(("roles", "sees"), [
    (("supervisor",), False), (("auditor",), False), (("supervisor", "auditor"), False),
    (("officer",), True), (("reviewer",), True), (("service",), True), (("admin",), True),
    (("supervisor", "officer"), True),
])
def test_which_roles_see_persons_ids(roles: tuple[str, ...], sees: bool) -> None:
    assert sees_person_ids(roles) is sees


def test_a_persons_id_named_in_the_text_beside_it_is_masked_there_too() -> None:
    """A finding's detail names its subject (重复检查: "当事人 … 在 90 日内被单独检查 3 次"), an
    event's free text may name the person of its payload: the id is masked there as well,
    at any depth below the object holding it; an organisation's id stays whole, and a short
    id is not looked for inside text (it could be part of a date)."""
    person, company = "P42772562398", "91330100E5A96D2E18"
    found = [{"code": "REPEATED_INSPECTION", "subject_id": person,
              "detail": f"当事人 {person} 在 90 日内被单独检查 3 次", "notes": [f"见 {person}"]},
             {"code": "DOUBLE_FINE", "subject_id": company, "detail": f"当事人 {company} 已被罚款"},
             {"payload": {"subject": {"id": person, "kind": "person"}, "facts": f"{person} 承认"}},
             {"subject_id": "P7", "due_at": "2025-P7-01", "detail": "P7"}]
    masked = mask_persons(found, {person, "P7"})
    assert masked[0]["subject_id"] == "P427****2398"
    assert masked[0]["detail"] == "当事人 P427****2398 在 90 日内被单独检查 3 次"
    assert masked[0]["notes"] == ["见 P427****2398"]
    assert masked[1]["detail"] == f"当事人 {company} 已被罚款"
    assert masked[2]["payload"] == {"subject": {"id": "P427****2398", "kind": "person"},
                                    "facts": "P427****2398 承认"}
    assert masked[3] == {"subject_id": "**", "due_at": "2025-P7-01", "detail": "**"}
    assert person in found[0]["detail"]  # the input is left alone
