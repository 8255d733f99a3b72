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
