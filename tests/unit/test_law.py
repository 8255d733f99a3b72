"""The law in the engine: each rule of docs/contract.md on both sides of its boundary.

Article numbers are those of the Administrative Penalty Law (APL, 2021 revision) unless
another instrument is named.
"""

from __future__ import annotations

import pytest

from tests.factories import OFFICERS
from tests.helpers import at
from tests.stories import PERSON, Judge, Story


@pytest.fixture
def judge() -> Judge:
    return Judge()



# -- LIFECYCLE_ORDER -------------------------------------------------------------------------
def test_a_decision_before_filing_is_out_of_order(judge: Judge) -> None:
    """No penalty.decided before penalty.case_filed (lifecycle; APL Art. 54, 57)."""
    story = Story()
    story.add("supervision.clue_registered")
    story.decide()
    assert "LIFECYCLE_ORDER" in judge.last(story)


def test_a_decision_after_filing_investigation_and_notice_is_in_order(judge: Judge) -> None:
    """The same decision after the steps the law requires is accepted (APL Art. 44, 57)."""
    story = Story().prepared()
    story.decide()
    assert judge.last(story) == []


def test_a_seal_may_be_extended_after_the_decision_while_it_runs(judge: Judge) -> None:
    """A seal runs on its own clock: its extension (`deadline: measure`) is accepted after
    the decision while the seal is not released; the decision deadline's extension is not
    (Administrative Coercion Law Art. 25; APL Art. 60)."""
    story = Story("HZ-SEAL").filed()
    story.add("penalty.measure_imposed")
    story.concluded().reviewed().noticed().waived()
    story.decide()
    story.add("penalty.deadline_extended", days=30, approved_by="局长", deadline="measure")
    story.add("penalty.deadline_extended", days=30, approved_by="局长")
    codes = judge.run(story)
    assert codes[:-1] == [[]] * (len(codes) - 1)
    assert codes[-1] == ["LIFECYCLE_ORDER"]


def test_extending_a_seal_that_is_not_running_is_out_of_order(judge: Judge) -> None:
    """No seal or seizure imposed, or every one released: nothing to extend, and the
    rejection says so."""
    story = Story("HZ-NOSEAL").filed()
    story.add("penalty.deadline_extended", days=30, approved_by="局长", deadline="measure")
    assert "still running" in judge.message(story)
    released = Story("HZ-RELEASED").filed()
    released.add("penalty.measure_imposed")
    released.add("penalty.measure_released")
    released.add("penalty.deadline_extended", days=30, approved_by="局长", deadline="measure")
    assert judge.last(released) == ["LIFECYCLE_ORDER"]


def test_payment_before_service_of_the_decision_is_out_of_order(judge: Judge) -> None:
    """No penalty.paid before penalty.decision_served (APL Art. 61, 67)."""
    story = Story().prepared()
    story.decide()
    story.add("penalty.paid")
    assert judge.last(story) == ["LIFECYCLE_ORDER"]
    served = Story("HZ-L-2").prepared()
    served.decide()
    served.add("penalty.decision_served")
    served.add("penalty.paid")
    assert judge.last(served) == []


def test_after_closing_only_evaluation_and_referral_follow(judge: Judge) -> None:
    """After penalty.closed a penalty step is refused; evaluation and referral steps pass."""
    story = Story().prepared()
    story.decide()
    story.add("penalty.decision_served")
    story.add("penalty.closed")
    for event in story.events:
        assert judge.codes(event) == []
    late = Story(story.case_id)
    assert judge.codes(late.add("penalty.paid")) == ["LIFECYCLE_ORDER"]
    assert judge.codes(late.add("referral.assessed", suspected_crime=False)) == []
    assert judge.codes(late.add("evaluation.case_file_reviewed")) == []


def test_a_case_starts_only_at_approval_supervision_or_penalty(judge: Judge) -> None:
    """A case may not start with a decision or an evaluation (docs/contract.md lifecycle)."""
    assert judge.codes(Story("A").decide()) == ["LIFECYCLE_ORDER"]
    assert judge.codes(Story("B").add("evaluation.completed")) == ["LIFECYCLE_ORDER"]
    assert judge.codes(Story("C").add("supervision.clue_registered")) == []
    assert judge.codes(Story("D").add("approval.granted")) == []


def test_the_stage_moves_forward_only(judge: Judge) -> None:
    """Once filed, a supervision step of the same cycle is refused (docs/contract.md lifecycle)."""
    story = Story().filed()
    story.add("supervision.dispatched")
    assert "LIFECYCLE_ORDER" in judge.last(story)


def test_evaluation_completed_opens_a_new_cycle(judge: Judge) -> None:
    """After evaluation.completed a new cycle starts with filing, not with a decision."""
    story = Story().prepared()
    story.decide()
    story.add("penalty.decision_served")
    story.add("penalty.closed")
    story.add("evaluation.completed")
    for event in story.events:
        assert judge.codes(event) == []
    again = Story(story.case_id, start=at("2025-12-01T10:00:00"))
    assert judge.codes(again.decide()) == ["LIFECYCLE_ORDER"]
    assert judge.codes(again.add("penalty.case_filed", act_date="2025-11-20")) == []


def test_referral_steps_follow_their_order(judge: Judge) -> None:
    """Transfer to the police needs approval first (Decree 310 Art. 5)."""
    story = Story().filed()
    story.add("referral.reported")
    story.add("referral.transferred")
    assert judge.last(story) == ["LIFECYCLE_ORDER"]
    ok = Story("HZ-L-2").filed()
    ok.add("referral.reported")
    ok.add("referral.approved")
    ok.add("referral.transferred")
    assert judge.last(ok) == []


# -- OFFICERS_REQUIRED -----------------------------------------------------------------------
def test_filing_with_one_certified_officer_is_refused(judge: Judge) -> None:
    """General procedure needs two officers with enforcement certificates (APL Art. 42)."""
    one = [OFFICERS[0], {"id": "X", "name": "协管员"}]
    assert judge.codes(Story().filed(officers=one).events[-1]) == ["OFFICERS_REQUIRED"]
    assert judge.codes(Story("B").filed(officers=OFFICERS).events[-1]) == []


def test_summary_procedure_needs_two_certified_officers_too(judge: Judge) -> None:
    """APL Art. 42: "执法人员不得少于两人，法律另有规定的除外" — the summary procedure too;
    one officer is refused, two pass (the rule before revision 2 let one through)."""
    one = Story("A").filed(officers=OFFICERS[:1], procedure="summary", item="330224005",
                           subject=PERSON)
    two = Story("B").filed(officers=OFFICERS, procedure="summary", item="330224005",
                           subject=PERSON)
    assert judge.codes(one.events[-1]) == ["OFFICERS_REQUIRED"]
    assert "APL Art. 42" in judge.rejections(one.events[-1])[0].message
    assert judge.codes(two.events[-1]) == []


# -- LIMITATION_EXPIRED ----------------------------------------------------------------------
def test_filing_two_years_to_the_day_is_in_time_and_a_day_later_is_not(judge: Judge) -> None:
    """No penalty for an act not discovered within two years (APL Art. 36)."""
    in_time = Story("A").filed(act_date="2023-09-01", at=at("2025-09-01T09:00:00"))
    late = Story("B").filed(act_date="2023-09-01", at=at("2025-09-02T09:00:00"))
    assert judge.codes(in_time.events[-1]) == []
    assert judge.codes(late.events[-1]) == ["LIMITATION_EXPIRED"]


def test_life_and_health_items_have_five_years(judge: Judge) -> None:
    """Items marked long_limitation (life, health, financial safety) get five years
    (APL Art. 36); 销售假药 is a city-level item, filed by the city."""
    in_time = Story("A", jurisdiction="3301").filed(item="330221013", act_date="2020-09-02",
                                                    at=at("2025-09-02T09:00:00"))
    late = Story("B", jurisdiction="3301").filed(item="330221013", act_date="2020-09-01",
                                                 at=at("2025-09-02T09:00:00"))
    assert judge.codes(in_time.events[-1]) == []
    assert judge.codes(late.events[-1]) == ["LIMITATION_EXPIRED"]


# -- UNKNOWN_ITEM ----------------------------------------------------------------------------
def test_an_item_not_in_the_catalogue_is_refused(judge: Judge) -> None:
    """item_code must be in the catalogue in force on occurred_at (docs/contract.md rule pack)."""
    assert judge.codes(Story("A").filed(item="999999999").events[-1]) == ["UNKNOWN_ITEM"]
    assert judge.codes(Story("B").filed(item="330217001").events[-1]) == []


def test_the_catalogue_in_force_on_occurred_at_applies(tmp_path: pytest.TempPathFactory) -> None:
    """An item added by a later version is unknown before that version's effective_from and
    known after it: a catalogue change never rewrites history."""
    import yaml

    from casechain.adapters.rulepack_files import DEFAULT_PACK, _read

    data = yaml.safe_load(_read(DEFAULT_PACK)[1])
    later = {**data["versions"][0], "effective_from": "2025-09-10", "title": "new item"}
    later["items"] = [*data["versions"][0]["items"],
                      {**data["versions"][0]["items"][0], "code": "330217999"}]
    data["versions"].append(later)
    path = tmp_path / "pack.yaml"  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    judge = Judge(str(path))
    before = Story("A").filed(item="330217999", at=at("2025-09-09T10:00:00"))
    after = Story("B").filed(item="330217999", at=at("2025-09-10T10:00:00"))
    assert judge.codes(before.events[-1]) == ["UNKNOWN_ITEM"]
    assert judge.codes(after.events[-1]) == []


# -- NOTICE_REQUIRED -------------------------------------------------------------------------
def test_a_penalty_without_notice_is_refused(judge: Judge) -> None:
    """General procedure: notice of the proposed penalty before deciding (APL Art. 44)."""
    story = Story().filed().concluded().reviewed()
    story.decide()
    assert judge.last(story) == ["NOTICE_REQUIRED"]


def test_a_notice_must_carry_the_hearing_right_of_a_large_fine(judge: Judge) -> None:
    """An organisation fined 100,000 or more has a right to a hearing; a notice that omits
    it is refused, 99,999 needs none (APL Art. 44, 63; threshold from the pack)."""
    big = Story("A").filed(item="330217004").concluded().reviewed().noticed(100000)
    small = Story("B").filed(item="330217004").concluded().reviewed().noticed(99999)
    assert judge.last(big) == ["NOTICE_REQUIRED"]
    assert judge.last(small) == []


def test_a_notice_proposing_closure_must_carry_the_hearing_right(judge: Judge) -> None:
    """Closure (责令关闭) carries a hearing right whatever the amount (APL Art. 63)."""
    story = Story().filed().concluded().reviewed().noticed(proposed=[{"kind": "closure"}])
    assert judge.last(story) == ["NOTICE_REQUIRED"]


# -- HEARING_WINDOW_OPEN ---------------------------------------------------------------------
def hearing_story(case_id: str) -> Story:
    story = Story(case_id).filed(item="330217004").concluded().reviewed()
    return story.noticed(150000, hearing_right=True, at=at("2025-09-30T10:00:00"))


def test_deciding_inside_the_five_working_days_across_national_day_is_refused(
        judge: Judge) -> None:
    """Notice on 30 Sep 2025: Oct 1–8 are holidays and Sat Oct 11 is a make-up working day,
    so the window runs to 24:00 on Tue Oct 14: a decision one second before is refused,
    at 00:00 on Oct 15 it is accepted (APL Art. 64, 85)."""
    early = hearing_story("A")
    early.decide(150000, level="light", at=at("2025-10-14T23:59:59"))
    on_time = hearing_story("B")
    on_time.decide(150000, level="light", at=at("2025-10-15T00:00:00"))
    assert judge.last(early) == ["HEARING_WINDOW_OPEN"]
    assert judge.last(on_time) == []


def test_a_waived_hearing_closes_the_window(judge: Judge) -> None:
    """Once the party waives the hearing the decision may follow at once (APL Art. 64)."""
    story = hearing_story("A")
    story.add("penalty.hearing_waived", at=at("2025-10-09T10:00:00"))
    story.add("penalty.statement_received", at=at("2025-10-09T10:30:00"))
    story.decide(150000, level="light", at=at("2025-10-09T11:00:00"))
    assert judge.last(story) == []


def test_a_requested_hearing_must_be_held_before_deciding(judge: Judge) -> None:
    """A requested hearing not yet held keeps the decision waiting (APL Art. 64)."""
    story = hearing_story("A")
    story.add("penalty.hearing_requested", at=at("2025-10-09T10:00:00"))
    story.decide(150000, level="light", at=at("2025-10-20T10:00:00"))
    assert judge.last(story) == ["HEARING_WINDOW_OPEN"]


# -- LEGAL_REVIEW_REQUIRED -------------------------------------------------------------------
def test_a_major_case_needs_an_approving_legal_review(judge: Judge) -> None:
    """Major or complex cases go through legal review before the decision (APL Art. 58 (3));
    they are also discussed collectively (Art. 57 para 2), recorded here."""
    def discussed(story: Story) -> Story:
        story.add("penalty.collective_discussion_held")
        return story

    missing = discussed(Story("A").filed().concluded(major_or_complex=True).noticed().waived())
    missing.decide()
    revise = Story("B").filed().concluded(major_or_complex=True).reviewed("revise").noticed()
    discussed(revise.waived()).decide()
    approved = Story("C").filed().concluded(major_or_complex=True).reviewed().noticed()
    discussed(approved.waived()).decide()
    assert judge.last(missing) == ["LEGAL_REVIEW_REQUIRED"]
    assert judge.last(revise) == ["LEGAL_REVIEW_REQUIRED"]
    assert judge.last(approved) == []


# -- COLLECTIVE_DISCUSSION_REQUIRED ----------------------------------------------------------
def test_serious_circumstances_need_collective_discussion(judge: Judge) -> None:
    """Serious violations are decided collectively by the agency's heads (APL Art. 57)."""
    without = Story("A").filed().concluded(circumstances="serious").reviewed().noticed(40000)
    without.waived().decide(40000, level="heavy")
    with_it = Story("B").filed().concluded(circumstances="serious").reviewed().noticed(40000)
    with_it.waived().add("penalty.collective_discussion_held")
    with_it.decide(40000, level="heavy")
    assert judge.last(without) == ["COLLECTIVE_DISCUSSION_REQUIRED"]
    assert judge.last(with_it) == []


# -- DISCRETION_OUT_OF_RANGE and FINE_ABOVE_STATUTORY_MAX ------------------------------------
@pytest.mark.parametrize(("fine", "codes"), [(18499, ["DISCRETION_OUT_OF_RANGE"]), (18500, []),
                                             (36500, []), (36501, ["DISCRETION_OUT_OF_RANGE"])])
def test_a_fine_must_sit_in_the_benchmark_of_its_discretion_level(
        judge: Judge, fine: float, codes: list[str]) -> None:
    """Item 330217001, organisation, normal: 18,500–36,500 yuan (裁量基准; APL Art. 34)."""
    story = Story().prepared(fine=40000)
    story.decide(fine)
    assert judge.last(story) == codes


def test_benchmarks_in_multiples_of_the_amount_involved(judge: Judge) -> None:
    """Item 330221001 (货值金额一倍以上三倍以下): with 10,000 involved, normal is 16,000–
    24,000 (Product Quality Law Art. 49)."""
    def story(case_id: str, fine: float) -> Story:
        s = Story(case_id).filed(item="330221001").concluded(amount_involved=10000)
        s.reviewed().noticed(30000).waived().decide(fine)
        return s

    assert judge.last(story("A", 24000)) == []
    assert judge.last(story("B", 24001)) == ["DISCRETION_OUT_OF_RANGE"]


def test_a_fine_above_the_statutory_maximum_is_refused(judge: Judge) -> None:
    """Item 330217001 allows 50,000 at most: 50,000 heavy passes, 50,001 breaks both the
    maximum and the benchmark, and both are reported (Air Pollution Law Art. 118)."""
    ok = Story("A").prepared(fine=60000)
    ok.decide(50000, level="heavy")
    over = Story("B").prepared(fine=60000)
    over.decide(50001, level="heavy")
    assert judge.last(ok) == []
    assert judge.last(over) == ["FINE_ABOVE_STATUTORY_MAX", "DISCRETION_OUT_OF_RANGE"]


# -- SUMMARY_PROCEDURE_LIMIT -----------------------------------------------------------------
def summary_story(case_id: str, fine: float, subject: dict[str, str]) -> Story:
    """On the spot: two officers (Art. 42), the notice and the decision in the same minute
    (Art. 44)."""
    story = Story(case_id).filed(item="330224005", procedure="summary", subject=subject)
    story.concluded().noticed(fine, at=at("2025-09-03T10:00:00"))
    story.decide(fine, level="heavy", at=at("2025-09-03T10:00:30"))
    return story


def test_summary_procedure_caps_a_persons_fine_at_200(judge: Judge) -> None:
    """Summary procedure: a person may be fined up to 200 yuan (APL Art. 51)."""
    assert judge.last(summary_story("A", 200, PERSON)) == []
    assert "SUMMARY_PROCEDURE_LIMIT" in judge.last(summary_story("B", 201, PERSON))


def test_summary_procedure_caps_an_organisations_fine_at_3000(judge: Judge) -> None:
    """Summary procedure: an organisation may be fined up to 3,000 yuan (APL Art. 51)."""
    def story(case_id: str, fine: float) -> Story:
        s = Story(case_id).filed(item="330221007", procedure="summary")
        s.concluded().noticed(fine, at=at("2025-09-03T10:00:00"))
        s.decide(fine, level="normal", at=at("2025-09-03T10:00:00"))
        return s

    assert judge.last(story("A", 3000)) == []
    assert judge.last(story("B", 3001)) == ["SUMMARY_PROCEDURE_LIMIT"]


# -- MINOR_NO_PENALTY ------------------------------------------------------------------------
def test_no_penalty_for_a_minor_harmless_act_corrected_in_time(judge: Judge) -> None:
    """Minor, no harm, corrected in time: no penalty shall be given (APL Art. 33 para 1);
    with minor harm the penalty stands; deciding no_penalty is always allowed."""
    minor = dict(circumstances="minor", harm="none", corrected=True)
    refused = Story("A").filed().concluded(**minor).reviewed().noticed().waived()
    refused.decide()
    harmful = Story("B").filed().concluded(**{**minor, "harm": "minor"}).reviewed().noticed()
    harmful.waived().decide()
    spared = Story("C").filed().concluded(**minor).reviewed()
    spared.decide(None, outcome="no_penalty", level="exempted", penalties=[],
                  mitigation_grounds=["minor_corrected"])
    assert judge.last(refused) == ["MINOR_NO_PENALTY"]
    assert judge.last(harmful) == []
    assert judge.last(spared) == []


# -- HEAVIER_THAN_NOTICE ---------------------------------------------------------------------
def test_a_decision_heavier_than_the_notice_is_refused(judge: Judge) -> None:
    """No heavier penalty than notified; serve a new notice first (APL Art. 44, 45)."""
    heavier = Story("A").prepared(fine=20000)
    heavier.decide(20001)
    same = Story("B").prepared(fine=20000)
    same.decide(20000)
    more_kinds = Story("C").prepared(fine=20000)
    more_kinds.decide(penalties=[{"kind": "fine", "amount": 20000},
                                 {"kind": "confiscation", "amount": 1000}])
    assert judge.last(heavier) == ["HEAVIER_THAN_NOTICE"]
    assert judge.last(same) == []
    assert judge.last(more_kinds) == ["HEAVIER_THAN_NOTICE"]


# -- REFERRAL_PENDING ------------------------------------------------------------------------
def test_no_fine_while_the_case_is_with_the_police(judge: Judge) -> None:
    """A fine may not be decided while a referral is reported, approved or with the police
    (Decree 310 Art. 11); after the police decline, it may."""
    pending = Story("A").prepared()
    pending.add("referral.reported")
    pending.add("referral.approved")
    pending.add("referral.transferred")
    pending.decide()
    declined = Story("B").prepared()
    for step in ("referral.reported", "referral.approved", "referral.transferred",
                 "referral.police_declined"):
        declined.add(step)
    declined.decide()
    assert judge.last(pending) == ["REFERRAL_PENDING"]
    assert judge.last(declined) == []


# -- messages --------------------------------------------------------------------------------
def test_rejection_messages_name_case_field_value_limit_and_source() -> None:
    """A message is for an officer: case, field, value, limit and legal source."""
    story = Story("HZ-MSG").prepared(fine=60000)
    story.decide(50001, level="heavy")
    message = Judge().message(story)
    assert "case HZ-MSG" in message
    assert "field payload.penalties" in message
    assert "fine 50001 above statutory maximum 50000" in message
    assert "item 330217001" in message
    assert "《中华人民共和国大气污染防治法》第一百一十八条第一款" in message


def test_a_fine_without_an_amount_is_a_schema_problem(judge: Judge) -> None:
    """A fine must say how much (field named)."""
    story = Story().prepared()
    story.decide(penalties=[{"kind": "fine"}])
    assert "SCHEMA_INVALID" in judge.last(story)


def _pack_with_calendar(tmp_path: object, calendar: dict[int, object]) -> str:
    import yaml

    from casechain.adapters.rulepack_files import DEFAULT_PACK, _read

    data = yaml.safe_load(_read(DEFAULT_PACK)[1])
    data["calendar"] = calendar
    path = tmp_path / "pack.yaml"  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return str(path)


def _notice_in_2027() -> Story:
    story = Story(start=at("2026-12-20T10:00:00")).filed(item="330217004", act_date="2026-12-01")
    story.concluded().reviewed()
    story.noticed(150000, hearing_right=True, at=at("2026-12-31T10:00:00"))
    return story


def test_a_window_running_into_an_unknown_year_refuses_rather_than_guesses(judge: Judge) -> None:
    """The calendar package stops at 2026: a window ending in 2027 cannot be counted, so the
    decision is refused naming the year, never guessed from weekends (APL Art. 85)."""
    story = _notice_in_2027()
    story.decide(150000, level="light", at=at("2027-01-20T10:00:00"))
    assert judge.last(story) == ["STATEMENT_PERIOD_OPEN", "HEARING_WINDOW_OPEN"]
    assert "year 2027" in Judge().message(_decided_2027())


def _decided_2027() -> Story:
    story = _notice_in_2027()
    story.decide(150000, level="light", at=at("2027-01-20T10:00:00"))
    return story


def test_the_pack_supplies_the_holidays_of_a_year_the_package_does_not_know(
        tmp_path: object) -> None:
    """With 2027's New Year holiday (Jan 1) and a make-up Saturday (Jan 9) in the pack, the
    window after a 31 Dec 2026 notice runs Jan 4, 5, 6, 7, 8: deciding on Jan 8 is too early,
    on Jan 9 it is not (APL Art. 64, 85)."""
    path = _pack_with_calendar(tmp_path, {2027: {"holidays": ["2027-01-01"],
                                                 "workdays": ["2027-01-09"]}})
    early = _notice_in_2027()
    early.decide(150000, level="light", at=at("2027-01-08T18:00:00"))
    on_time = _notice_in_2027()
    on_time.case_id = "HZ-L-2"
    for event in on_time.events:
        event["case_id"] = "HZ-L-2"
    on_time.decide(150000, level="light", at=at("2027-01-09T00:00:00"))
    assert Judge(path).last(early) == ["HEARING_WINDOW_OPEN"]
    assert Judge(path).last(on_time) == []
