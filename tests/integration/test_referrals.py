"""行刑衔接 and subject-register alerts at their boundary instants, through the testing engine
(`casechain.testing.Engine`); the referrals and subject-register listings through the CLI
(docs/contract.md "Deadlines and alerts"; Decree 310 Arts. 3, 5, 9, 11, 12; APL Arts. 29, 33)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from casechain.entrypoints.cli.main import app
from casechain.testing import Engine
from tests.crosscase_stories import at, concluded, fined, inspection, minor_fumes, referred
from tests.stories import ORG, PERSON, Story

runner = CliRunner()


def load(tmp_path: Path, *stories: Story) -> Engine:
    """The stories' events (case after case) in a fresh engine on a SQLite store in
    `tmp_path` (its file: `db_of(tmp_path)`); every event must be accepted."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    engine = Engine(folder=tmp_path)
    engine.load([e for s in stories for e in s.events])
    return engine


def db_of(tmp_path: Path) -> str:
    """The store file of the engine `load` made in `tmp_path`, for the CLI."""
    return str(tmp_path / "casechain-test.db")


def alerts(engine: Engine, as_of: str, code: str) -> list[dict[str, Any]]:
    """The alerts of one code as of a Shanghai wall-clock instant."""
    return engine.alerts(as_of, code)


def severities(found: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(a["case_id"], a["severity"]) for a in found]


def test_referral_missing_turns_red_at_the_end_of_the_third_day(tmp_path: Path) -> None:
    """Concluded Tue 2 Sep 2025 at 60,000 yuan of fake goods: reported by 24:00 on Fri 5 Sep
    or red (Decree 310 Art. 3)."""
    db = load(tmp_path, concluded("HZ-M1", "2025-09-02", 60000))
    assert severities(alerts(db, "2025-09-05T23:59:59", "REFERRAL_MISSING")) == [
        ("HZ-M1", "yellow")]
    red = alerts(db, "2025-09-06T00:00:01", "REFERRAL_MISSING")
    assert severities(red) == [("HZ-M1", "red")]
    assert red[0]["due_at"] == "2025-09-06T00:00:00+08:00"
    assert "应移未移" in red[0]["detail"]
    assert "《行政执法机关移送涉嫌犯罪案件的规定》第三条" in red[0]["detail"]


def test_a_case_reported_in_time_raises_no_referral_missing(tmp_path: Path) -> None:
    """Reported on the third day: nothing is missing afterwards."""
    story = concluded("HZ-M2", "2025-09-02", 60000)
    story.add("referral.reported", at=at("2025-09-05T16:00:00"))
    db = load(tmp_path, story)
    assert alerts(db, "2025-09-10T00:00:00", "REFERRAL_MISSING") == []


def test_below_the_threshold_nothing_is_missing(tmp_path: Path) -> None:
    """49,999 yuan of fake goods is under the 50,000 prosecution standard."""
    db = load(tmp_path, concluded("HZ-M3", "2025-09-02", 49999))
    assert alerts(db, "2025-12-01T00:00:00", "REFERRAL_MISSING") == []


def test_referral_missing_over_national_day_ends_on_the_next_working_day(
        tmp_path: Path) -> None:
    """Concluded Sun 28 Sep 2025 (a make-up working day): the third day, 1 Oct, is a holiday,
    so the period ends with Thu 9 Oct."""
    db = load(tmp_path, concluded("HZ-M4", "2025-09-28", 60000))
    assert severities(alerts(db, "2025-10-09T23:59:59", "REFERRAL_MISSING")) == [
        ("HZ-M4", "yellow")]
    assert severities(alerts(db, "2025-10-10T00:00:01", "REFERRAL_MISSING")) == [
        ("HZ-M4", "red")]


def test_amounts_of_earlier_unpunished_acts_add_up_across_cases(tmp_path: Path) -> None:
    """30,000 in June and 25,000 in July by the same subject, neither punished: the July case
    reaches 55,000 and must be referred; neither alone would."""
    june = concluded("HZ-C1", "2025-07-01", 30000, act_date="2025-06-01")
    july = concluded("HZ-C2", "2025-08-01", 25000, act_date="2025-07-01")
    db = load(tmp_path, july, june)  # the older case arrives last
    found = alerts(db, "2025-08-05T00:00:01", "REFERRAL_MISSING")
    assert severities(found) == [("HZ-C2", "red")]
    assert "HZ-C1" in found[0]["detail"] and "55,000 元" in found[0]["detail"]


def test_a_punished_earlier_act_does_not_add_up(tmp_path: Path) -> None:
    """The June act was fined before the July case concluded: it was dealt with, and 25,000
    alone is under the threshold."""
    june = fined(concluded("HZ-C3", "2025-07-01", 30000, act_date="2025-06-01"), 60000,
                 at("2025-07-10T10:00:00"))
    july = concluded("HZ-C4", "2025-08-01", 25000, act_date="2025-07-01")
    db = load(tmp_path, june, july)
    assert alerts(db, "2025-09-01T00:00:00", "REFERRAL_MISSING") == []


def test_a_fine_instead_of_a_transfer_is_red_at_once(tmp_path: Path) -> None:
    """以罚代刑: 60,000 yuan of fake goods fined 100,000 without a transfer — red from the
    instant of the decision (Decree 310 Art. 11)."""
    decided = at("2025-09-10T10:00:00")
    db = load(tmp_path, fined(concluded("HZ-P1", "2025-09-02", 60000), 100000, decided))
    assert alerts(db, "2025-09-10T09:59:59", "PENALTY_INSTEAD_OF_REFERRAL") == []
    found = alerts(db, "2025-09-10T10:00:00", "PENALTY_INSTEAD_OF_REFERRAL")
    assert severities(found) == [("HZ-P1", "red")]
    assert found[0]["due_at"] == decided.isoformat()


def test_a_fine_after_a_final_police_decline_is_no_substitute(tmp_path: Path) -> None:
    """Transferred, declined by the police, no reconsideration: the agency may then fine."""
    story = concluded("HZ-P2", "2025-09-02", 60000)
    for step, when in (("reported", "2025-09-02T15:00:00"), ("approved", "2025-09-03T10:00:00"),
                       ("transferred", "2025-09-03T16:00:00"),
                       ("police_declined", "2025-09-20T10:00:00")):
        story.add(f"referral.{step}", at=at(when))
    fined(story, 100000, at("2025-09-30T10:00:00"))
    db = load(tmp_path, story)
    assert alerts(db, "2025-10-15T00:00:00", "PENALTY_INSTEAD_OF_REFERRAL") == []
    assert alerts(db, "2025-10-15T00:00:00", "REFERRAL_MISSING") == []


def test_referral_decision_overdue_three_days_after_the_report(tmp_path: Path) -> None:
    """Reported Wed 3 Sep: the third day is Sat 6 Sep, a rest day, so the head of the agency
    decides by 24:00 on Mon 8 Sep (Decree 310 Art. 5)."""
    db = load(tmp_path, referred("HZ-R1", ("reported", "2025-09-03T10:00:00")))
    assert severities(alerts(db, "2025-09-08T23:59:59", "REFERRAL_DECISION_OVERDUE")) == [
        ("HZ-R1", "yellow")]
    red = alerts(db, "2025-09-09T00:00:01", "REFERRAL_DECISION_OVERDUE")
    assert severities(red) == [("HZ-R1", "red")]
    assert red[0]["due_at"] == "2025-09-09T00:00:00+08:00"


def test_referral_transfer_overdue_twenty_four_hours_after_approval(tmp_path: Path) -> None:
    """Approved at 10:00 on 4 Sep: transferred by 10:00 on 5 Sep (Decree 310 Art. 5)."""
    db = load(tmp_path, referred("HZ-R2", ("reported", "2025-09-03T10:00:00"),
                                 ("approved", "2025-09-04T10:00:00")))
    assert severities(alerts(db, "2025-09-05T09:59:59", "REFERRAL_TRANSFER_OVERDUE")) == [
        ("HZ-R2", "yellow")]
    assert severities(alerts(db, "2025-09-05T10:00:01", "REFERRAL_TRANSFER_OVERDUE")) == [
        ("HZ-R2", "red")]


def test_handover_overdue_three_days_after_police_filing(tmp_path: Path) -> None:
    """Police filed Mon 8 Sep: materials handed over by 24:00 Thu 11 Sep (Art. 12)."""
    db = load(tmp_path, referred("HZ-R3", ("reported", "2025-09-03T10:00:00"),
                                 ("approved", "2025-09-04T10:00:00"),
                                 ("transferred", "2025-09-04T15:00:00"),
                                 ("police_filed", "2025-09-08T10:00:00")))
    assert severities(alerts(db, "2025-09-11T23:59:59", "HANDOVER_OVERDUE")) == [
        ("HZ-R3", "yellow")]
    assert severities(alerts(db, "2025-09-12T00:00:01", "HANDOVER_OVERDUE")) == [
        ("HZ-R3", "red")]


def test_a_police_decline_opens_a_three_day_reconsideration_window(tmp_path: Path) -> None:
    """Declined Mon 8 Sep: an info alert until 24:00 Thu 11 Sep (Art. 9), then the decline
    is final and the alert is gone."""
    steps = (("reported", "2025-09-03T10:00:00"), ("approved", "2025-09-04T10:00:00"),
             ("transferred", "2025-09-04T15:00:00"), ("police_declined", "2025-09-08T10:00:00"))
    db = load(tmp_path, referred("HZ-R4", *steps))
    code = "RECONSIDERATION_WINDOW"
    assert severities(alerts(db, "2025-09-11T23:59:59", code)) == [("HZ-R4", "info")]
    assert alerts(db, "2025-09-12T00:00:01", code) == []
    asked = load(tmp_path / "asked", referred(
        "HZ-R5", *steps, ("reconsideration_requested", "2025-09-09T10:00:00")))
    assert alerts(asked, "2025-09-10T00:00:00", code) == []


_TO_POLICE = (("reported", "2025-09-03T10:00:00"), ("approved", "2025-09-04T10:00:00"),
              ("transferred", "2025-09-04T15:00:00"))


def accepted(case_id: str, **payload: Any) -> Story:
    story = referred(case_id, *_TO_POLICE)
    story.add("referral.police_accepted", at=at("2025-09-08T10:00:00"), **payload)
    return story


@pytest.mark.parametrize(("payload", "last_second"), [
    ({}, "2025-09-11T23:59:59"),  # 3 days
    ({"needs_verification": True}, "2025-09-15T23:59:59"),  # 7 days
    ({"extended_by_superior": True}, "2025-10-09T23:59:59"),  # 30 days: 8 Oct is a holiday
])
def test_the_police_decide_on_filing_within_their_days(
        tmp_path: Path, payload: dict[str, Any], last_second: str) -> None:
    """Decree 310 Art. 8: accepted Mon 8 Sep, the police decide whether to file within 3
    days, 7 when a clue needs verification, 30 with the superior's approval (a last day on a
    rest day moves to the next working day) — yellow to the last second, red after it;
    deciding stops the clock (the procuratorate's alert)."""
    db = load(tmp_path, accepted("HZ-P1", **payload))
    code = "POLICE_FILING_OVERDUE"
    assert severities(alerts(db, last_second, code)) == [("HZ-P1", "yellow")]
    next_day = (at(last_second) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S")
    red = alerts(db, next_day, code)
    assert severities(red) == [("HZ-P1", "red")]
    assert "《行政执法机关移送涉嫌犯罪案件的规定》第八条" in red[0]["detail"]
    decided = load(tmp_path / "decided", accepted("HZ-P2", **payload))
    decided.load([decided_step("HZ-P2", "referral.police_filed", "2025-09-09T10:00:00")])
    assert alerts(decided, next_day, code) == []


def decided_step(case_id: str, event_type: str, when: str, **payload: Any) -> dict[str, Any]:
    story = Story(case_id)
    return story.add(event_type, at=at(when), **payload)


def test_the_police_decide_a_reconsideration_within_three_days(tmp_path: Path) -> None:
    """Decree 310 Art. 9: declined Mon 8 Sep, reconsideration asked Tue 9 Sep: the police
    decide by 24:00 Fri 12 Sep or the alert is red; their decision stops it and leaves the
    referral declined (or filed)."""
    story = accepted("HZ-P3")
    story.add("referral.police_declined", at=at("2025-09-08T15:00:00"))
    story.add("referral.reconsideration_requested", at=at("2025-09-09T10:00:00"))
    db = load(tmp_path, story)
    code = "POLICE_RECONSIDERATION_OVERDUE"
    assert severities(alerts(db, "2025-09-12T23:59:59", code)) == [("HZ-P3", "yellow")]
    assert severities(alerts(db, "2025-09-13T00:00:01", code)) == [("HZ-P3", "red")]
    db.load([decided_step("HZ-P3", "referral.reconsideration_decided", "2025-09-12T10:00:00",
                          result="filed")])
    assert alerts(db, "2025-09-13T00:00:01", code) == []
    assert severities(alerts(db, "2025-09-15T23:59:59", "HANDOVER_OVERDUE")) == [
        ("HZ-P3", "yellow")]  # filed on reconsideration: the 3 days of Art. 12 run


def test_asking_the_procuratorate_closes_the_window(tmp_path: Path) -> None:
    """Decree 310 Art. 9: within the 3 days the agency may ask the procuratorate to supervise
    (立案监督) instead of the police to reconsider: the information window closes."""
    story = accepted("HZ-P4")
    story.add("referral.police_declined", at=at("2025-09-08T15:00:00"))
    story.add("referral.procuratorate_supervision_requested", at=at("2025-09-09T10:00:00"))
    db = load(tmp_path, story)
    assert alerts(db, "2025-09-10T00:00:00", "RECONSIDERATION_WINDOW") == []


def test_a_returned_case_resumes_its_decision_deadline(tmp_path: Path) -> None:
    """Filed 1 Sep, with the police from 4 Sep to 24 Sep: the 20 days do not count, so the
    90-day decision deadline (Sun 30 Nov, moved to 24:00 Mon 1 Dec) moves 20 days on."""
    db = load(tmp_path, referred("HZ-R6", ("reported", "2025-09-03T10:00:00"),
                                 ("approved", "2025-09-04T08:00:00"),
                                 ("transferred", "2025-09-04T10:00:00"),
                                 ("returned", "2025-09-24T10:00:00")))
    found = alerts(db, "2025-12-22T00:00:01", "DECISION_OVERDUE")
    assert severities(found) == [("HZ-R6", "red")]
    assert found[0]["due_at"] == "2025-12-22T00:00:00+08:00"
    assert severities(alerts(db, "2025-12-21T23:59:59", "DECISION_OVERDUE")) == [
        ("HZ-R6", "yellow")]


def test_fining_a_first_corrected_minor_violation_is_flagged(tmp_path: Path) -> None:
    """首违不罚: a first violation on the list, minor harm, corrected, fined — an advisory
    from the instant of the decision (APL Art. 33 para 1, second sentence)."""
    decided = at("2025-09-10T10:00:00")
    db = load(tmp_path, minor_fumes("HZ-F1", "2025-08-20", decided))
    assert alerts(db, "2025-09-10T09:59:59", "FIRST_VIOLATION_FINED") == []
    found = alerts(db, "2025-09-10T10:00:01", "FIRST_VIOLATION_FINED")
    assert severities(found) == [("HZ-F1", "info")]
    assert "《行政处罚法》第三十三条第一款" in found[0]["detail"]


def test_a_second_violation_may_be_fined_without_advisory(tmp_path: Path) -> None:
    """Punished for the same item for an earlier act: not a first violation."""
    earlier = minor_fumes("HZ-F2", "2025-05-01", at("2025-06-10T10:00:00"))
    later = minor_fumes("HZ-F3", "2025-08-20", at("2025-09-10T10:00:00"))
    db = load(tmp_path, later, earlier)
    assert severities(alerts(db, "2025-10-01T00:00:00", "FIRST_VIOLATION_FINED")) == [
        ("HZ-F2", "info")]


def test_a_second_fine_for_the_same_act_is_red(tmp_path: Path) -> None:
    """Two cases fine the same subject for the same item and act date: the second decision
    is red (APL Art. 29, 一事不再罚)."""
    first = minor_fumes("HZ-X1", "2025-08-20", at("2025-09-10T10:00:00"), subject=ORG)
    second = minor_fumes("HZ-X2", "2025-08-20", at("2025-09-20T10:00:00"), subject=ORG)
    db = load(tmp_path, second, first)
    assert alerts(db, "2025-09-20T09:59:59", "DOUBLE_FINE") == []
    found = alerts(db, "2025-09-20T10:00:00", "DOUBLE_FINE")
    assert severities(found) == [("HZ-X2", "red")]
    assert found[0]["first_case_id"] == "HZ-X1"


def test_a_third_fruitless_separate_inspection_within_ninety_days_is_yellow(
        tmp_path: Path) -> None:
    """Inspected alone on 1 Jun, 15 Jul and a second before 90 days after 1 Jun, nothing found
    each time: yellow (综合查一次)."""
    start = at("2025-06-01T10:00:00")
    third = start + timedelta(days=90) - timedelta(seconds=1)
    db = load(tmp_path, inspection("HZ-I1", start), inspection("HZ-I2", at("2025-07-15T10:00:00")),
              inspection("HZ-I3", third))
    found = alerts(db, "2025-10-01T00:00:00", "REPEATED_INSPECTION")
    assert severities(found) == [("HZ-I3", "yellow")]
    assert alerts(db, (third - timedelta(seconds=1)).replace(tzinfo=None).isoformat(),
                  "REPEATED_INSPECTION") == []


def test_inspections_ninety_days_apart_or_joint_are_not_repeated(tmp_path: Path) -> None:
    """The third exactly 90 days after the first falls outside the window; a joint inspection
    is the reform's goal, not a repeat."""
    start = at("2025-06-01T10:00:00")
    db = load(tmp_path, inspection("HZ-I4", start), inspection("HZ-I5", at("2025-07-15T10:00:00")),
              inspection("HZ-I6", start + timedelta(days=90)),
              inspection("HZ-I7", at("2025-08-01T10:00:00"), joint=True))
    assert alerts(db, "2025-10-01T00:00:00", "REPEATED_INSPECTION") == []


def test_referrals_lists_status_timings_and_the_rate(tmp_path: Path) -> None:
    """`casechain referrals --json`: threshold cases with their status and the rate of
    transfers per team and district."""
    sent = referred("HZ-L1", ("reported", "2025-09-03T10:00:00"),
                    ("approved", "2025-09-04T10:00:00"), ("transferred", "2025-09-04T15:00:00"))
    kept = concluded("HZ-L2", "2025-09-02", 70000, subject=PERSON)
    load(tmp_path, sent, kept)
    db = db_of(tmp_path)
    result = runner.invoke(app, ["referrals", "--db", db, "--as-of",
                                 "2025-10-01T00:00:00", "--json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    rows = {row["case_id"]: row for row in listing["cases"]}
    assert rows["HZ-L1"]["status"] == "transferred"
    assert rows["HZ-L1"]["times"]["transferred"] == "2025-09-04T15:00:00+08:00"
    assert rows["HZ-L2"]["status"] is None and rows["HZ-L2"]["threshold_met"]
    assert listing["rates"] == [{"team": "市场监管", "district": "330106", "threshold_met": 2,
                                 "transferred": 1, "rate": 0.5}]
    text = runner.invoke(app, ["referrals", "--db", db, "--as-of", "2025-10-01T00:00:00"])
    assert "移送率 50%" in text.stdout and "已移送公安" in text.stdout


def test_subject_show_gives_cases_fines_inspections_and_colour(tmp_path: Path) -> None:
    """`casechain subject show`: two fines within 12 months make the subject red; a year
    later it is green again."""
    load(tmp_path, minor_fumes("HZ-S1", "2025-03-01", at("2025-04-10T10:00:00"),
                                    subject=ORG),
              minor_fumes("HZ-S2", "2025-08-20", at("2025-09-10T10:00:00"), subject=ORG),
              inspection("HZ-S3", at("2025-05-01T10:00:00"), joint=True))
    db = db_of(tmp_path)
    shown = runner.invoke(app, ["subject", "show", ORG["id"], "--db", db, "--as-of",
                                "2025-10-01T00:00:00", "--json"])
    assert shown.exit_code == 0, shown.output
    register = json.loads(shown.stdout)
    assert register["colour"] == "red"
    assert [c["case_id"] for c in register["cases"]] == ["HZ-S1", "HZ-S2", "HZ-S3"]
    assert register["fines_total"] == 40000
    assert register["inspections_per_year"] == [{"year": 2025, "inspections": 1, "joint": 1}]
    later = runner.invoke(app, ["subject", "show", ORG["id"], "--db", db, "--as-of",
                                "2026-09-11T00:00:00", "--json"])
    assert json.loads(later.stdout)["colour"] == "green"
    missing = runner.invoke(app, ["subject", "show", "nobody", "--db", db])
    assert missing.exit_code == 1 and "nobody" in missing.output
