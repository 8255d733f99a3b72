"""Statutory deadlines and their alerts at the boundary instants (docs/contract.md "Deadlines and
alerts"): one second before and after each due instant, holidays inside the periods — through
the testing engine (`casechain.testing.Engine`); the scope option through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casechain.entrypoints.cli.main import app
from casechain.testing import Engine
from tests.factories import write_log
from tests.helpers import at
from tests.stories import Story

runner = CliRunner()



def alerts(tmp_path: Path, story: Story, as_of: str, code: str) -> list[dict[str, object]]:
    """The story's alerts of one code as of a Shanghai wall-clock instant (the story loaded
    into a fresh engine; every event must be accepted)."""
    with Engine(folder=tmp_path) as engine:
        engine.load(story.events)
        return [a for a in engine.alerts(as_of, code) if a["case_id"] == story.case_id]


def severities(found: list[dict[str, object]]) -> list[object]:
    return [a["severity"] for a in found]


def filed_on(text: str, case_id: str = "HZ-D") -> Story:
    return Story(case_id).filed(act_date="2025-05-20", at=at(text))


def test_decision_overdue_at_the_end_of_the_ninetieth_day(tmp_path: Path) -> None:
    """Filed 3 Jun 2025: the 90 days end at 24:00 on Mon 1 Sep — yellow one second before,
    red one second after (APL Art. 60)."""
    story = filed_on("2025-06-03T10:00:00")
    assert severities(alerts(tmp_path, story, "2025-09-01T23:59:59", "DECISION_OVERDUE")) == [
        "yellow"]
    red = alerts(tmp_path, story, "2025-09-02T00:00:01", "DECISION_OVERDUE")
    assert severities(red) == ["red"]
    assert red[0]["due_at"] == "2025-09-02T00:00:00+08:00"
    assert "办案超期" in str(red[0]["detail"]) and "《行政处罚法》第六十条" in str(red[0]["detail"])


def test_decision_deadline_is_green_while_more_than_a_fifth_remains(tmp_path: Path) -> None:
    """Early in the period no alert is listed (green)."""
    story = filed_on("2025-06-03T10:00:00")
    assert alerts(tmp_path, story, "2025-07-01T10:00:00", "DECISION_OVERDUE") == []


def test_an_extension_ending_on_national_day_moves_to_the_next_working_day(
        tmp_path: Path) -> None:
    """90 + 30 days from 3 Jun end on 1 Oct, a holiday: the period ends with 9 Oct, the first
    working day after the National Day holiday (APL Art. 60, 85)."""
    story = filed_on("2025-06-03T10:00:00")
    story.add("penalty.deadline_extended", at=at("2025-08-20T10:00:00"), days=30)
    found = alerts(tmp_path, story, "2025-10-10T00:00:01", "DECISION_OVERDUE")
    assert found[0]["due_at"] == "2025-10-10T00:00:00+08:00"
    assert severities(alerts(tmp_path, story, "2025-10-09T23:59:59", "DECISION_OVERDUE")) == [
        "yellow"]


def test_extensions_count_up_to_the_teams_cap(tmp_path: Path) -> None:
    """APL Art. 60 ("法律、法规、规章另有规定的，从其规定"): the bundled pack caps a 交通运输
    case's extensions at 30 days, so 60 days asked count as 30 (due 24:00 9 Oct, the note
    says why); a 综合执法 case has no cap: its 60 days run to 24:00 Fri 31 Oct."""
    capped = Story("HZ-X1").filed(item="330224005", act_date="2025-05-20",
                                  at=at("2025-06-03T10:00:00"))
    capped.add("penalty.deadline_extended", at=at("2025-08-20T10:00:00"), days=60)
    for folder in ("capped", "free"):
        (tmp_path / folder).mkdir()
    found = alerts(tmp_path / "capped", capped, "2025-10-10T00:00:01", "DECISION_OVERDUE")
    assert found[0]["due_at"] == "2025-10-10T00:00:00+08:00"
    assert "延长期限按本队伍上限计算，办案期限共 120 日" in str(found[0]["detail"])
    free = filed_on("2025-06-03T10:00:00", "HZ-X2")
    free.add("penalty.deadline_extended", at=at("2025-08-20T10:00:00"), days=60)
    found = alerts(tmp_path / "free", free, "2025-11-01T00:00:01", "DECISION_OVERDUE")
    assert found[0]["due_at"] == "2025-11-01T00:00:00+08:00"


def test_a_suspended_period_does_not_count(tmp_path: Path) -> None:
    """Ten days suspended for an expert opinion push the due instant back ten days."""
    story = filed_on("2025-06-03T10:00:00")
    story.add("penalty.clock_suspended", at=at("2025-07-01T10:00:00"), reason="expert_opinion")
    story.add("penalty.clock_resumed", at=at("2025-07-11T10:00:00"))
    assert alerts(tmp_path, story, "2025-09-11T23:59:59", "DECISION_OVERDUE")[0][
        "due_at"] == "2025-09-12T00:00:00+08:00"
    assert severities(alerts(tmp_path, story, "2025-09-12T00:00:01",
                             "DECISION_OVERDUE")) == ["red"]


def decided_on(text: str) -> Story:
    story = Story("HZ-S", start=at("2025-09-20T10:00:00")).prepared(act_date="2025-09-01")
    story.decide(at=at(text))
    return story


def test_service_overdue_counts_working_days_across_national_day(tmp_path: Path) -> None:
    """Decided 30 Sep 2025: 7 working days are Oct 9, 10, 11 (make-up Saturday), 13, 14, 15,
    16 — red from 24:00 on 16 Oct (APL Art. 61, 85)."""
    story = decided_on("2025-09-30T10:00:00")
    assert severities(alerts(tmp_path, story, "2025-10-16T23:59:59", "SERVICE_OVERDUE")) == [
        "yellow"]
    assert severities(alerts(tmp_path, story, "2025-10-17T00:00:01", "SERVICE_OVERDUE")) == [
        "red"]


def test_payment_overdue_shows_the_surcharge_so_far(tmp_path: Path) -> None:
    """Served 1 Sep: 15 days end with 16 Sep; 36 hours later two days of 3% have accrued on
    the 20,000 fine (APL Art. 67, 72)."""
    story = Story("HZ-P", start=at("2025-08-20T10:00:00")).prepared(act_date="2025-08-01")
    story.decide(at=at("2025-08-30T10:00:00"))
    story.add("penalty.decision_served", at=at("2025-09-01T10:00:00"))
    assert alerts(tmp_path, story, "2025-09-16T23:59:59", "PAYMENT_OVERDUE")[0][
        "surcharge"] == 0.0
    (late,) = alerts(tmp_path, story, "2025-09-18T12:00:00", "PAYMENT_OVERDUE")
    assert (late["severity"], late["surcharge"]) == ("red", 1200.0)
    capped = alerts(tmp_path, story, "2026-09-18T12:00:00", "PAYMENT_OVERDUE")
    assert capped[0]["surcharge"] == 20000.0


def test_no_surcharge_accrues_while_a_reconsideration_runs(tmp_path: Path) -> None:
    """Due at 24:00 on 16 Sep; reconsideration applied for on 17 Sep 00:00 and decided on
    20 Sep 00:00 (`applied_at`): those three days carry no surcharge (APL Art. 73), so at
    20 Sep 23:59:59 one day has begun (600 on 20,000) and one second past 24:00, two."""
    story = Story("HZ-P", start=at("2025-08-20T10:00:00")).prepared(act_date="2025-08-01")
    story.decide(at=at("2025-08-30T10:00:00"))
    story.add("penalty.decision_served", at=at("2025-09-01T10:00:00"))
    story.add("evaluation.reconsideration_decided", at=at("2025-09-20T00:00:00"),
              result="upheld", applied_at="2025-09-17T00:00:00+08:00")
    before = alerts(tmp_path, story, "2025-09-20T23:59:59", "PAYMENT_OVERDUE")
    assert [(a["severity"], a["surcharge"]) for a in before] == [("red", 600.0)]
    after = alerts(tmp_path, story, "2025-09-21T00:00:01", "PAYMENT_OVERDUE")
    assert [a["surcharge"] for a in after] == [1200.0]


def test_a_reconsideration_without_its_start_leaves_the_surcharge_running(
        tmp_path: Path) -> None:
    """Without `applied_at` the start is unknown: the surcharge counts every day."""
    story = Story("HZ-P", start=at("2025-08-20T10:00:00")).prepared(act_date="2025-08-01")
    story.decide(at=at("2025-08-30T10:00:00"))
    story.add("penalty.decision_served", at=at("2025-09-01T10:00:00"))
    story.add("evaluation.reconsideration_decided", at=at("2025-09-20T00:00:00"),
              result="upheld")
    found = alerts(tmp_path, story, "2025-09-21T00:00:01", "PAYMENT_OVERDUE")
    assert [a["surcharge"] for a in found] == [3000.0]


def test_a_paid_fine_raises_no_alert(tmp_path: Path) -> None:
    """Payment stops the clock."""
    story = Story("HZ-P", start=at("2025-08-20T10:00:00")).prepared(act_date="2025-08-01")
    story.decide(at=at("2025-08-30T10:00:00"))
    story.add("penalty.decision_served", at=at("2025-09-01T10:00:00"))
    story.add("penalty.paid", at=at("2025-09-03T10:00:00"))
    assert alerts(tmp_path, story, "2025-12-01T00:00:00", "PAYMENT_OVERDUE") == []


def urgent_clue(dispatched: str) -> Story:
    story = Story("HZ-1315", start=at("2025-09-01T09:00:00"))
    story.add("supervision.clue_registered", at=at("2025-09-01T09:00:00"), urgent=True)
    story.add("supervision.dispatched", at=at(dispatched))
    return story


def test_1315_acknowledgement_within_one_minute(tmp_path: Path) -> None:
    """Dispatched at 09:05:00: yellow at 09:05:59, red at 09:06:01 (Hangzhou 1315)."""
    story = urgent_clue("2025-09-01T09:05:00")
    before = alerts(tmp_path, story, "2025-09-01T09:05:59", "RESPONSE_1315")
    after = alerts(tmp_path, story, "2025-09-01T09:06:01", "RESPONSE_1315")
    assert [(a["step"], a["severity"]) for a in before] == [("acknowledged", "yellow")]
    assert ("acknowledged", "red") in [(a["step"], a["severity"]) for a in after]


def test_1315_steps_met_in_time_raise_nothing(tmp_path: Path) -> None:
    """Acknowledged, departed and arrived in time: no alert at any later instant."""
    story = urgent_clue("2025-09-01T09:05:00")
    story.add("supervision.acknowledged", at=at("2025-09-01T09:05:30"))
    story.add("supervision.departed", at=at("2025-09-01T09:07:00"))
    story.add("supervision.arrived", at=at("2025-09-01T09:15:00"))
    assert alerts(tmp_path, story, "2025-09-01T10:00:00", "RESPONSE_1315") == []


def hearing_noticed_on_1_september(hearing_at: str) -> Story:
    """A hearing requested after a notice with a hearing right, notified on Mon 1 Sep 2025."""
    story = Story("HZ-H").filed(item="330217004", act_date="2025-08-01",
                                at=at("2025-08-20T10:00:00"))
    story.concluded().reviewed().noticed(150000, hearing_right=True, at=at("2025-08-25T10:00:00"))
    story.add("penalty.hearing_requested", at=at("2025-08-26T10:00:00"))
    story.add("penalty.hearing_noticed", at=at("2025-09-01T10:00:00"), hearing_at=hearing_at)
    return story


def test_a_hearing_notified_too_late_is_red_at_once(tmp_path: Path) -> None:
    """Notice on Mon 1 Sep 2025 of a hearing on Fri 5 Sep: fewer than 7 working days
    (APL Art. 64, 85)."""
    story = hearing_noticed_on_1_september(hearing_at="2025-09-05T09:00:00+08:00")
    assert severities(alerts(tmp_path, story, "2025-09-01T10:00:01",
                             "HEARING_NOTICE_LATE")) == ["red"]


def test_a_hearing_notified_seven_working_days_ahead_is_fine(tmp_path: Path) -> None:
    """Notice on Mon 1 Sep of a hearing on Wed 10 Sep (the 7th working day): no alert."""
    story = hearing_noticed_on_1_september(hearing_at="2025-09-10T09:00:00+08:00")
    assert alerts(tmp_path, story, "2025-09-01T10:00:01", "HEARING_NOTICE_LATE") == []


def test_a_seal_kept_past_thirty_days_is_overdue(tmp_path: Path) -> None:
    """Sealed 1 Sep: 30 days end on 1 Oct (holiday), moved to 9 Oct (Administrative Coercion
    Law Art. 25; APL Art. 85)."""
    story = Story("HZ-M").filed(act_date="2025-08-01", at=at("2025-08-30T10:00:00"))
    story.add("penalty.measure_imposed", at=at("2025-09-01T10:00:00"))
    assert severities(alerts(tmp_path, story, "2025-10-09T23:59:59", "MEASURE_OVERDUE")) == [
        "yellow"]
    assert severities(alerts(tmp_path, story, "2025-10-10T00:00:01", "MEASURE_OVERDUE")) == [
        "red"]


def test_an_extended_seal_runs_thirty_days_more(tmp_path: Path) -> None:
    """Sealed 1 Sep, extended by 30 days (`deadline: measure`): 60 days end on Fri 31 Oct —
    yellow one second before 24:00, red one second after (Administrative Coercion Law
    Art. 25)."""
    story = Story("HZ-M").filed(act_date="2025-08-01", at=at("2025-08-30T10:00:00"))
    story.add("penalty.measure_imposed", at=at("2025-09-01T10:00:00"))
    story.add("penalty.deadline_extended", at=at("2025-09-25T10:00:00"), days=30,
              approved_by="局长", deadline="measure", measure_seq=2)
    assert alerts(tmp_path, story, "2025-10-10T00:00:01", "MEASURE_OVERDUE") == []
    before = alerts(tmp_path, story, "2025-10-31T23:59:59", "MEASURE_OVERDUE")
    assert severities(before) == ["yellow"]
    red = alerts(tmp_path, story, "2025-11-01T00:00:01", "MEASURE_OVERDUE")
    assert severities(red) == ["red"]
    assert red[0]["due_at"] == "2025-11-01T00:00:00+08:00"


def test_a_seal_extended_after_the_decision_runs_thirty_days_more(tmp_path: Path) -> None:
    """Sealed 1 Sep, decided 10 Sep with the seal still on, extended on 25 Sep: due at
    24:00 on 31 Oct, as when extended before the decision (Administrative Coercion Law
    Art. 25)."""
    story = Story("HZ-M").filed(act_date="2025-08-01", at=at("2025-08-30T10:00:00"))
    story.add("penalty.measure_imposed", at=at("2025-09-01T10:00:00"))
    story.concluded().reviewed().noticed().waived()
    story.decide(at=at("2025-09-10T10:00:00"))
    story.add("penalty.deadline_extended", at=at("2025-09-25T10:00:00"), days=30,
              approved_by="局长", deadline="measure")
    assert severities(alerts(tmp_path, story, "2025-10-31T23:59:59", "MEASURE_OVERDUE")) == [
        "yellow"]
    assert severities(alerts(tmp_path, story, "2025-11-01T00:00:01", "MEASURE_OVERDUE")) == [
        "red"]


def test_a_seal_extension_beyond_thirty_days_is_capped_and_said(tmp_path: Path) -> None:
    """The law allows at most 30 days more: an approval of 45 gives 60 days in all, and the
    alert says the extension was capped."""
    story = Story("HZ-M").filed(act_date="2025-08-01", at=at("2025-08-30T10:00:00"))
    story.add("penalty.measure_imposed", at=at("2025-09-01T10:00:00"))
    story.add("penalty.deadline_extended", at=at("2025-09-25T10:00:00"), days=45,
              approved_by="局长", deadline="measure")
    (red,) = alerts(tmp_path, story, "2025-11-01T00:00:01", "MEASURE_OVERDUE")
    assert red["due_at"] == "2025-11-01T00:00:00+08:00"
    assert "延长查封、扣押按 30 日计算（《行政强制法》第二十五条）" in str(red["detail"])


def test_a_decision_extension_does_not_move_a_seal(tmp_path: Path) -> None:
    """`deadline_extended` without `deadline` extends the decision deadline only."""
    story = Story("HZ-M").filed(act_date="2025-08-01", at=at("2025-08-30T10:00:00"))
    story.add("penalty.measure_imposed", at=at("2025-09-01T10:00:00"))
    story.add("penalty.deadline_extended", at=at("2025-09-25T10:00:00"), days=30,
              approved_by="局长")
    assert severities(alerts(tmp_path, story, "2025-10-10T00:00:01", "MEASURE_OVERDUE")) == [
        "red"]


@pytest.mark.parametrize("scope", ["330106", "3301"])
def test_alerts_within_a_scope(tmp_path: Path, scope: str) -> None:
    """--scope keeps the alerts of cases inside the division-code prefix."""
    story = filed_on("2025-06-03T10:00:00")
    db = tmp_path / "s.db"
    runner.invoke(app, ["import", str(write_log(tmp_path / "l.jsonl", story.events)),
                        "--db", str(db)])
    inside = runner.invoke(app, ["alerts", "--db", str(db), "--as-of", "2025-09-10T00:00:00",
                                 "--scope", scope, "--json"])
    outside = runner.invoke(app, ["alerts", "--db", str(db), "--as-of", "2025-09-10T00:00:00",
                                  "--scope", "330108", "--json"])
    assert [a["case_id"] for a in json.loads(inside.stdout)] == ["HZ-D"]
    assert json.loads(outside.stdout) == []
