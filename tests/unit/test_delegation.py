"""赋权 (delegated powers): a body below an item's level acts only on what the pack's
delegations give it — APL Art. 24 (县级人民政府部门的行政处罚权交由乡镇街道行使) and Art. 38 (a
penalty by a body without the power is void)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.stories import Judge, Story
from tests.unit.test_law_corrected import pack_with

FUMES = "330217001"  # 综合执法, district level, delegated to every street by the bundled pack
ROAD = "330224005"  # 交通运输, district level, delegated to no street
DRUGS = "330221013"  # 市场监管, city level
PRICES = "330221007"  # 市场监管, street level


@pytest.fixture
def judge() -> Judge:
    return Judge()


@pytest.mark.parametrize(("jurisdiction", "item", "codes"), [
    ("330106001", FUMES, []),  # a street on a delegated district item
    ("330106001", ROAD, ["NOT_DELEGATED"]),  # a street on a district item not delegated
    ("330106001", PRICES, []),  # a street on a street item
    ("330106", ROAD, []),  # the district on its own level
    ("330106", DRUGS, ["NOT_DELEGATED"]),  # a district on a city item
    ("3301", DRUGS, []),  # the city on its own level
])
def test_a_body_acts_at_its_level_or_by_delegation(judge: Judge, jurisdiction: str, item: str,
                                                   codes: list[str]) -> None:
    """APL Arts. 24, 38: the filing by a body below the item's level needs the item on the
    pack's delegation list for that body."""
    story = Story("A", jurisdiction=jurisdiction).filed(item=item, act_date="2025-08-20")
    assert judge.codes(story.events[-1]) == codes


def test_the_refusal_names_body_item_list_and_articles(judge: Judge) -> None:
    story = Story("A", jurisdiction="330106001").filed(item=ROAD, act_date="2025-08-20")
    (rejection,) = judge.rejections(story.events[-1])
    assert rejection.field == "jurisdiction" and rejection.value == "330106001"
    for words in ("330106001", ROAD, "赋权清单", "APL Arts. 24, 38", "district-level"):
        assert words in rejection.message


def test_a_decision_by_a_street_without_the_power_is_refused(judge: Judge) -> None:
    """The district files, the street decides: the decision is the penalty, and the street
    has no power over the item (Art. 38: void)."""
    story = Story("A").filed(item=ROAD, act_date="2025-08-20").concluded().reviewed()
    story.noticed(100).waived()
    story.jurisdiction = "330106001"
    story.decide(100)
    assert judge.last(story) == ["NOT_DELEGATED"]


def test_a_delegation_to_one_district_covers_its_streets_only(tmp_path: Path) -> None:
    """A delegation keyed by a district's code (or any prefix) covers the bodies under it:
    330106's streets may act on the road item, 330105's may not."""
    def delegate(data: dict[str, Any]) -> None:
        data["versions"][0]["delegations"]["330106"] = [ROAD]

    judge = pack_with(tmp_path, delegate)
    mine = Story("A", jurisdiction="330106003").filed(item=ROAD, act_date="2025-08-20")
    other = Story("B", jurisdiction="330105003").filed(item=ROAD, act_date="2025-08-20")
    assert judge.codes(mine.events[-1]) == []
    assert judge.codes(other.events[-1]) == ["NOT_DELEGATED"]


def test_a_delegation_of_an_unknown_item_is_a_pack_problem(tmp_path: Path) -> None:
    def delegate(data: dict[str, Any]) -> None:
        data["versions"][0]["delegations"]["330106"] = ["330299999"]

    with pytest.raises(Exception, match="330299999"):
        pack_with(tmp_path, delegate)
