"""The rules revision 2 of the contract corrected, each on both sides of its boundary: rules
that refused lawful decisions (legal review, officers' count, limitation of harmless
long-limitation items) and rules that let unlawful ones through (notice in the summary
procedure, statement period, confiscation, grounds, 从旧兼从轻).

Article numbers are those of the Administrative Penalty Law (APL, 2021 revision).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from casechain.adapters.rulepack_files import DEFAULT_PACK, _read
from tests.helpers import at
from tests.stories import PERSON, Judge, Story

FUMES = "330217001"  # 综合执法: statutory max 50,000; normal 18,500–36,500
PRICES = "330221007"  # 市场监管: statement period 5 working days
FAKE_DRUGS = "330221013"  # 销售假药: long_limitation (life and health), a city-level item


@pytest.fixture
def judge() -> Judge:
    return Judge()


def pack_with(tmp_path: Path, change: Any) -> Judge:
    """A judge over the bundled pack as `change(data)` leaves it."""
    data = yaml.safe_load(_read(DEFAULT_PACK)[1])
    change(data)
    path = tmp_path / "pack.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return Judge(str(path))


def item_of(data: dict[str, Any], code: str, version: int = 0) -> dict[str, Any]:
    return next(i for i in data["versions"][version]["items"] if i["code"] == code)


# -- LIMITATION_EXPIRED (Art. 36) ------------------------------------------------------------
def test_a_continuing_act_runs_from_its_end() -> None:
    """Art. 36 para 2: a continuing act's two years run from when it ended (act_end_date):
    begun in 2022, ended 2024-03-01, filed 2025-09-02 — in time; the same act without its end
    date is refused."""
    judge = Judge()
    ended = Story("A").filed(act_date="2022-01-10", act_end_date="2024-03-01",
                             at=at("2025-09-02T09:00:00"))
    assert judge.codes(ended.events[-1]) == []
    begun = Story("B").filed(act_date="2022-01-10", at=at("2025-09-02T09:00:00"))
    assert judge.codes(begun.events[-1]) == ["LIMITATION_EXPIRED"]


def test_discovery_not_filing_stops_the_clock(judge: Judge) -> None:
    """Art. 36: "二年内未被发现" — the act ended 2023-09-01 and was discovered by a clue on
    2025-09-01 (in time) though filed on 2025-09-20; discovered a day later, it is refused.
    A filing's own discovered_at counts the same way."""
    spotted = Story("A", start=at("2025-08-31T09:00:00"))
    spotted.add("supervision.clue_registered", source="patrol", urgent=False)
    spotted.add("supervision.closed", at=at("2025-09-05T09:00:00"))
    spotted.filed(act_date="2023-09-01", at=at("2025-09-20T09:00:00"))
    assert judge.last(spotted) == []
    late = Story("B", start=at("2025-09-01T09:00:00"))
    late.add("supervision.clue_registered", source="patrol", urgent=False)
    late.add("supervision.closed", at=at("2025-09-05T09:00:00"))
    late.filed(act_date="2023-09-01", at=at("2025-09-20T09:00:00"))
    assert judge.last(late) == ["LIMITATION_EXPIRED"]
    told = Story("C").filed(act_date="2023-09-01", discovered_at="2025-09-01",
                            at=at("2025-09-20T09:00:00"))
    assert judge.codes(told.events[-1]) == []


def test_five_years_only_where_the_investigation_finds_harm(judge: Judge) -> None:
    """Art. 36: 5 years for life, health or financial safety *with* harmful consequences.
    Filed 4 years after the act (accepted: harm not yet known); the investigation finding
    harm none is refused, harm minor accepted."""
    def story(case_id: str, harm: str) -> Story:
        s = Story(case_id, jurisdiction="3301").filed(item=FAKE_DRUGS, act_date="2021-09-01",
                                                      at=at("2025-09-01T09:00:00"))
        s.concluded(amount_involved=1000, harm=harm)
        return s

    refused = Judge().message(story("A", "none"))
    assert judge.last(story("A2", "none")) == ["LIMITATION_EXPIRED"]
    assert "APL Art. 36" in refused and "no harmful consequence" in refused
    assert judge.last(story("B", "minor")) == []


def test_an_items_own_limitation_period(tmp_path: Path) -> None:
    """Art. 36 "法律另有规定的除外": an item's limitation_years replaces the two years."""
    judge = pack_with(tmp_path, lambda d: item_of(d, FUMES).update(limitation_years=3))
    three = Story("A").filed(act_date="2022-09-02", at=at("2025-09-02T09:00:00"))
    four = Story("B").filed(act_date="2021-09-01", at=at("2025-09-02T09:00:00"))
    assert judge.codes(three.events[-1]) == []
    assert judge.codes(four.events[-1]) == ["LIMITATION_EXPIRED"]


# -- OFFICERS_REQUIRED (Art. 42) -------------------------------------------------------------
def test_one_officer_only_where_the_item_names_the_law(tmp_path: Path) -> None:
    """Art. 42 "法律另有规定的除外": an item with officers_min 1 and its law accepts one
    officer; a pack saying 1 without the law is itself refused."""
    def one(data: dict[str, Any]) -> None:
        item_of(data, "330224005").update(officers_min=1, officers_min_basis="某法第X条（测试）")

    judge = pack_with(tmp_path, one)
    alone = Story("A").filed(item="330224005", procedure="summary", subject=PERSON,
                             officers=[{"id": "O1", "cert_no": "33010012345"}])
    assert judge.codes(alone.events[-1]) == []
    with pytest.raises(Exception, match="officers_min_basis"):
        pack_with(tmp_path, lambda d: item_of(d, FUMES).update(officers_min=1))


# -- NOTICE_REQUIRED (Art. 44) ---------------------------------------------------------------
def test_the_summary_procedure_needs_its_notice_too(judge: Judge) -> None:
    """Art. 44 in every procedure: a summary decision without notice is refused; on the
    spot, a notice the same minute will do."""
    bare = Story("A").filed(item="330224005", procedure="summary", subject=PERSON).concluded()
    bare.decide(100, level="normal")
    assert judge.last(bare) == ["NOTICE_REQUIRED"]
    spot = Story("B").filed(item="330224005", procedure="summary", subject=PERSON).concluded()
    spot.noticed(100, at=at("2025-09-05T10:00:00"))
    spot.decide(100, level="normal", at=at("2025-09-05T10:00:00"))
    assert judge.last(spot) == []


# -- STATEMENT_PERIOD_OPEN (Arts. 45, 62) ----------------------------------------------------
def noticed_monday(case_id: str, item: str, fine: float) -> Story:
    story = Story(case_id).filed(item=item).concluded().reviewed()
    story.noticed(fine, at=at("2025-09-08T10:00:00"))
    story.add("penalty.hearing_waived", at=at("2025-09-08T11:00:00"))
    return story


@pytest.mark.parametrize(("item", "fine", "last_second", "open_until"), [
    (FUMES, 20000, "2025-09-11T23:59:59", "2025-09-12T00:00:00"),  # default: 3 working days
    (PRICES, 2000, "2025-09-15T23:59:59", "2025-09-16T00:00:00"),  # 市场监管: 5 working days
])
def test_a_general_decision_waits_for_the_statement_period(
        judge: Judge, item: str, fine: float, last_second: str, open_until: str) -> None:
    """Arts. 45, 62: noticed Mon 8 Sep and no statement received or waived: deciding one
    second before the team's period has run is refused, at its end accepted."""
    early = noticed_monday("A", item, fine)
    early.decide(fine, at=at(last_second))
    assert judge.last(early) == ["STATEMENT_PERIOD_OPEN"]
    assert "APL Art. 45, 62" in Judge().message(early)
    run = noticed_monday("B", item, fine)
    run.decide(fine, at=at(open_until))
    assert judge.last(run) == []


@pytest.mark.parametrize("step", ["penalty.statement_received", "penalty.statement_waived"])
def test_a_statement_received_or_waived_ends_the_wait(judge: Judge, step: str) -> None:
    """Arts. 45, 62: the party heard (or waiving), the decision may follow at once."""
    story = noticed_monday("A", FUMES, 20000)
    story.add(step, at=at("2025-09-08T15:00:00"))
    story.decide(20000, at=at("2025-09-08T16:00:00"))
    assert judge.last(story) == []


# -- LEGAL_REVIEW_REQUIRED (Art. 58) ---------------------------------------------------------
def test_a_hearing_right_alone_does_not_ask_for_legal_review(judge: Judge) -> None:
    """Art. 58 lists a hearing *held*, not a hearing right notified: a fine of 150,000 with
    the hearing waived and no review is lawful (refused before revision 2); after a hearing
    held, the review is required."""
    waived = Story("A").filed(item="330217004").concluded()
    waived.noticed(150000, hearing_right=True).waived()
    waived.decide(150000, level="light")
    assert judge.last(waived) == []
    held = Story("B").filed(item="330217004").concluded()
    held.noticed(150000, hearing_right=True)
    held.add("penalty.hearing_requested")
    held.add("penalty.hearing_noticed", hearing_at="2025-09-20T09:00:00+08:00")
    held.add("penalty.hearing_held", at=at("2025-09-20T11:00:00"))
    held.decide(150000, level="light")
    assert judge.last(held) == ["LEGAL_REVIEW_REQUIRED"]
    assert "a hearing was held (Art. 58 (2))" in Judge().message(held)


def test_major_public_interest_asks_for_legal_review(judge: Judge) -> None:
    """Art. 58 (1): 涉及重大公共利益."""
    story = Story("A").filed().concluded(major_public_interest=True).noticed().waived()
    story.decide()
    assert judge.last(story) == ["LEGAL_REVIEW_REQUIRED"]


def test_a_local_rule_may_review_every_general_procedure_decision(tmp_path: Path) -> None:
    """Art. 58 (4) and local practice: `legal_review: general_procedure` asks a review of
    every general-procedure decision; the bundled pack follows the law and does not."""
    def local(data: dict[str, Any]) -> None:
        for version in data["versions"]:
            version.setdefault("general", {})["legal_review"] = "general_procedure"

    story = Story("A").filed().concluded().noticed().waived()
    story.decide()
    assert pack_with(tmp_path, local).last(story) == ["LEGAL_REVIEW_REQUIRED"]
    assert Judge().last(story) == []


# -- COLLECTIVE_DISCUSSION_REQUIRED (Art. 57 para 2) -----------------------------------------
def test_a_major_or_complex_penalty_is_discussed_collectively(judge: Judge) -> None:
    """Art. 57 para 2 "情节复杂或者重大违法行为": major_or_complex, not only serious, asks
    for collective discussion before a penalty; a no-penalty decision does not."""
    fined = Story("A").filed().concluded(major_or_complex=True).reviewed().noticed().waived()
    fined.decide()
    assert judge.last(fined) == ["COLLECTIVE_DISCUSSION_REQUIRED"]
    spared = Story("B").filed().concluded(major_or_complex=True).reviewed()
    spared.decide(None, outcome="no_penalty", level="exempted", penalties=[],
                  mitigation_grounds=["no_fault"])
    assert judge.last(spared) == []


# -- CONFISCATION_REQUIRED (Art. 28) ---------------------------------------------------------
def gains(case_id: str, proposed: list[dict[str, Any]]) -> Story:
    story = Story(case_id).filed().concluded(illegal_gains=3000).reviewed()
    story.noticed(proposed=proposed).waived()
    return story


def test_illegal_gains_are_confiscated_unless_refunded(judge: Judge) -> None:
    """Art. 28 para 2: illegal gains of 3,000 and a fine only — refused; with confiscation,
    or with refund_ordered (退赔), accepted."""
    fine = [{"kind": "fine", "amount": 20000}]
    both = [*fine, {"kind": "confiscation", "amount": 3000}]
    only_fine = gains("A", fine)
    only_fine.decide(penalties=fine)
    assert judge.last(only_fine) == ["CONFISCATION_REQUIRED"]
    assert "APL Art. 28" in Judge().message(only_fine)
    taken = gains("B", both)
    taken.decide(penalties=both)
    assert judge.last(taken) == []
    refunded = gains("C", fine)
    refunded.decide(penalties=fine, refund_ordered=True)
    assert judge.last(refunded) == []


# -- MITIGATION_GROUNDS_REQUIRED (Arts. 30-33) -----------------------------------------------
@pytest.mark.parametrize(("grounds", "codes"), [
    (None, ["MITIGATION_GROUNDS_REQUIRED"]), ([], ["MITIGATION_GROUNDS_REQUIRED"]),
    (["confessed"], []), ("当事人主动供述（2026年以前的记录方式）", [])])
def test_a_mitigated_penalty_names_its_ground(judge: Judge, grounds: Any,
                                              codes: list[str]) -> None:
    """Arts. 30-33: 从轻、减轻 names its ground; a free-text ground as recorded before
    revision 2 is still read."""
    story = Story().prepared(fine=4000)
    extra = {} if grounds is None else {"mitigation_grounds": grounds}
    story.decide(4000, level="mitigated", **extra)
    assert judge.last(story) == codes


def test_an_unknown_ground_is_a_schema_problem(judge: Judge) -> None:
    story = Story().prepared(fine=4000)
    story.decide(4000, level="mitigated", mitigation_grounds=["because"])
    assert set(judge.last(story)) == {"SCHEMA_INVALID"}
    assert "mitigation_grounds" in judge.rejections(story.events[-1])[0].message


# -- Art. 63: hearing rights by kind ---------------------------------------------------------
@pytest.mark.parametrize(("proposed", "codes"), [
    ([{"kind": "qualification_downgrade"}], ["NOTICE_REQUIRED"]),
    ([{"kind": "employment_restriction"}], ["NOTICE_REQUIRED"]),
    ([{"kind": "confiscation_of_property", "amount": 100000}], ["NOTICE_REQUIRED"]),
    ([{"kind": "confiscation_of_property", "amount": 99999}], []),
    ([{"kind": "public_criticism"}], []),
    ([{"kind": "permit_suspension"}], []),
])
def test_the_hearing_right_follows_the_kinds_of_art_63(
        judge: Judge, proposed: list[dict[str, Any]], codes: list[str]) -> None:
    """Art. 63: 降低资质等级, 限制从业, 没收较大价值非法财物 (organisation: 100,000) carry a
    hearing right; 通报批评 and 暂扣许可证件 are not listed."""
    story = Story().filed().concluded().reviewed()
    story.noticed(proposed=proposed)
    assert judge.last(story) == codes


# -- 从旧兼从轻 (Art. 37) --------------------------------------------------------------------
def two_versions(data: dict[str, Any], later_max: float) -> None:
    """The bundled pack plus a version from 2025-09-01 changing the fumes item's maximum."""
    item = item_of(data, FUMES)
    scale = later_max / 50000
    benchmarks = {level: {kind: [low * scale, high * scale] for kind, (low, high) in by.items()}
                  for level, by in item["benchmarks"].items()}
    changed = {**item, "statutory_max": {"person": later_max, "organisation": later_max},
               "benchmarks": benchmarks}
    data["versions"].append({"effective_from": "2025-09-01", "title": "test", "inherit": True,
                             "items": [changed]})


@pytest.mark.parametrize(("later_max", "fine", "words"), [
    (80000, 60000, "in force when the act ended"),  # the later law is heavier: not applied
    (30000, 40000, "lighter"),  # the later law is lighter: applied
])
def test_the_law_when_the_act_ended_judges_unless_the_later_one_is_lighter(
        tmp_path: Path, later_max: float, fine: float, words: str) -> None:
    """Art. 37: an act ended 2025-08-20, decided under a version from 2025-09-01 changing the
    maximum of 50,000. A heavier later maximum (80,000) does not apply: 60,000 exceeds the
    50,000 of the act's time. A lighter later maximum (30,000) applies: 40,000 exceeds it,
    though the act's law allowed it (the bundled pack alone accepts 40,000 heavy)."""
    judge = pack_with(tmp_path, lambda d: two_versions(d, later_max))
    story = Story("A").prepared(fine=fine)
    story.decide(fine, level="heavy")
    assert "FINE_ABOVE_STATUTORY_MAX" in judge.last(story)
    assert words in judge.rejections(story.events[-1])[0].message
    assert Judge().last(story) == ([] if fine == 40000 else ["FINE_ABOVE_STATUTORY_MAX",
                                                             "DISCRETION_OUT_OF_RANGE"])


def test_an_item_no_longer_punishable_at_the_decision_is_not_punished(tmp_path: Path) -> None:
    """Art. 37 "不认为是违法的，适用新的规定": the item removed by the version in force at
    the decision — the penalty is refused."""
    def removed(data: dict[str, Any]) -> None:
        data["versions"].append({"effective_from": "2025-09-04", "inherit": True,
                                 "removed": [FUMES], "items": []})

    judge = pack_with(tmp_path, removed)
    story = Story("A").filed(at=at("2025-09-01T10:00:00")).concluded().reviewed()
    story.noticed().waived()
    story.decide()
    assert judge.last(story) == ["UNKNOWN_ITEM"]
    assert "APL Art. 37" in judge.rejections(story.events[-1])[0].message
