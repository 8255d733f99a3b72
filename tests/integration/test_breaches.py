"""The breach register (违限记录, docs/contract.md "Deadlines and alerts"): a deadline met late
leaves the alerts and is kept — code, case, team, officers, due, met, lateness — for the
evaluation of enforcement (监督评价, 执法质效); one met on time is not a breach."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from casechain.application.breaches import breach_counts
from casechain.application.queries import statistics_of
from casechain.bootstrap import open_case_log, open_projections
from casechain.entrypoints.cli.main import app
from casechain.testing import Engine
from tests.helpers import at
from tests.stories import Story

runner = CliRunner()


def decided_on(case_id: str, day: str) -> Story:
    story = Story(case_id).prepared()
    story.decide(at=at(f"{day}T10:00:00"))
    return story


def served(story: Story, when: str) -> Story:
    story.add("penalty.decision_served", at=at(when))
    return story


def test_a_decision_served_a_second_late_is_a_breach(tmp_path: Path) -> None:
    """APL Arts. 61, 85: decided Mon 8 Sep 2025, due served by 24:00 Wed 17 Sep (7 working
    days). Served at 00:00:01 on the 18th: a breach of 1 second, with its team, officers, due
    and met instants; served at 23:59:59 on the 17th: none. The alert is gone either way."""
    with Engine(folder=tmp_path) as engine:
        engine.load(served(decided_on("HZ-B1", "2025-09-08"), "2025-09-18T00:00:01").events)
        engine.load(served(decided_on("HZ-B2", "2025-09-08"), "2025-09-17T23:59:59").events)
        found = engine.breaches("SERVICE_OVERDUE")
        assert [b["case_id"] for b in found] == ["HZ-B1"]
        (breach,) = found
        assert breach["due_at"] == "2025-09-18T00:00:00+08:00"
        assert breach["met_at"] == "2025-09-18T00:00:01+08:00"
        assert breach["lateness_seconds"] == 1 and breach["lateness"] == "1秒"
        assert breach["team"] == "综合执法" and breach["officers"] == ["O1001", "O1002"]
        assert "送达超期" in breach["detail"] and "《行政处罚法》第六十一条、第八十五条" in breach["detail"]
        assert engine.alerts("2025-09-20T10:00:00", "SERVICE_OVERDUE") == []


def test_a_suspended_period_is_not_lateness(tmp_path: Path) -> None:
    """APL Art. 60: filed 3 Jun, 90 days to 24:00 1 Sep; ten days suspended for an expert
    opinion move it to 24:00 11 Sep — decided on 10 Sep is no breach, on 12 Sep is (a day
    late, 10 hours)."""
    def case(case_id: str, decided: str) -> Story:
        story = Story(case_id).filed(act_date="2025-05-20", at=at("2025-06-03T10:00:00"))
        story.add("penalty.clock_suspended", at=at("2025-06-10T10:00:00"))
        story.add("penalty.clock_resumed", at=at("2025-06-20T10:00:00"))
        story.concluded().reviewed().noticed().waived()
        story.decide(at=at(decided))
        return story

    with Engine(folder=tmp_path) as engine:
        engine.load(case("HZ-S1", "2025-09-10T10:00:00").events)
        engine.load(case("HZ-S2", "2025-09-12T10:00:00").events)
        found = engine.breaches("DECISION_OVERDUE")
        assert [(b["case_id"], b["due_at"], b["lateness"]) for b in found] == [
            ("HZ-S2", "2025-09-12T00:00:00+08:00", "10小时")]


def test_a_late_1315_step_is_a_breach(tmp_path: Path) -> None:
    """Hangzhou 1315: dispatched 09:00:00, acknowledged at 09:01:30 — 30 seconds late; the
    departure and arrival in time are not breaches."""
    story = Story("HZ-U1", start=at("2025-09-01T08:50:00"))
    story.add("supervision.clue_registered", at=at("2025-09-01T08:58:00"))
    story.add("supervision.dispatched", at=at("2025-09-01T09:00:00"))
    story.add("supervision.acknowledged", at=at("2025-09-01T09:01:30"))
    story.add("supervision.departed", at=at("2025-09-01T09:02:00"))
    story.add("supervision.arrived", at=at("2025-09-01T09:14:00"))
    with Engine(folder=tmp_path) as engine:
        engine.load(story.events)
        assert [(b["step"], b["lateness"]) for b in engine.breaches("RESPONSE_1315")] == [
            ("acknowledged", "30秒")]


def test_the_register_is_paged_scoped_filtered_and_counted(tmp_path: Path) -> None:
    """`casechain breaches`: in the order met, a page at a time with a cursor and the total;
    `--scope`, `--from`/`--to` narrow it; the statistics count breaches per team and month."""
    stories = [served(decided_on(f"HZ-P{n}", "2025-09-08"),
                      (at("2025-09-19T10:00:00") + timedelta(days=n)).isoformat())
               for n in range(5)]
    other = Story("HZ-Q1")
    other.events = [dict(e, jurisdiction="330108001") for e in
                    served(decided_on("HZ-Q1", "2025-09-08"), "2025-09-30T10:00:00").events]
    with Engine(folder=tmp_path) as engine:
        engine.load([e for s in [*stories, other] for e in s.events])
        counts = statistics_of(engine.runner, "330106")["breaches"]
        assert counts == [{"team": "综合执法", "month": "2025-09", "code": "SERVICE_OVERDUE",
                           "label": "送达超期", "count": 5}]
    db = str(tmp_path / "casechain-test.db")
    first = runner.invoke(app, ["breaches", "--db", db, "--json", "--limit", "2",
                                "--scope", "330106"])
    assert first.exit_code == 0, first.output
    page = json.loads(first.stdout)
    assert [b["case_id"] for b in page["breaches"]] == ["HZ-P0", "HZ-P1"]
    assert page["total"] == 5
    rest = runner.invoke(app, ["breaches", "--db", db, "--json", "--scope", "330106",
                               "--cursor", page["next_cursor"]])
    assert [b["case_id"] for b in json.loads(rest.stdout)["breaches"]] == [
        "HZ-P2", "HZ-P3", "HZ-P4"]
    window = runner.invoke(app, ["breaches", "--db", db, "--json", "--from",
                                 "2025-09-21T00:00:00", "--to", "2025-09-23T00:00:00"])
    assert [b["case_id"] for b in json.loads(window.stdout)["breaches"]] == ["HZ-P2", "HZ-P3"]
    everywhere = runner.invoke(app, ["breaches", "--db", db, "--json"])
    assert json.loads(everywhere.stdout)["total"] == 6
    bad = runner.invoke(app, ["breaches", "--db", db, "--code", "REFERRAL_MISSING"])
    assert bad.exit_code == 2 and "--code" in bad.output


def test_a_step_never_done_is_not_met_late(tmp_path: Path) -> None:
    """A decision deadline stopped by terminating the case (penalty.terminated) after its 90
    days was never met: not a breach (it was an alert while it ran)."""
    story = Story("HZ-T1").filed(act_date="2025-05-20", at=at("2025-06-03T10:00:00"))
    story.add("penalty.terminated", at=at("2025-09-20T10:00:00"))
    with Engine(folder=tmp_path) as engine:
        engine.load(story.events)
        assert engine.breaches() == []
        assert [a["code"] for a in engine.alerts("2025-09-19T10:00:00")] == ["DECISION_OVERDUE"]


def test_breaches_are_counted_in_the_shanghai_month_they_were_met(store_url: str) -> None:
    """A decision served late at 23:30 on 30 September and another at 00:30 on 1 October
    (Asia/Shanghai; both still 30 September in UTC) count in 2025-09 and 2025-10; as of
    00:00 on 1 October only the first has been met. The months are counted in the database,
    on SQLite and on PostgreSQL alike."""
    stories = [served(decided_on("HZ-M1", "2025-09-08"), "2025-09-30T23:30:00"),
               served(decided_on("HZ-M2", "2025-09-08"), "2025-10-01T00:30:00")]
    case_log = open_case_log(store_url)
    try:
        outcomes = case_log.append_many([e for story in stories for e in story.events])
        assert {o.status for o in outcomes} == {"appended"}
        views = open_projections(case_log)
        months = {(row["month"], row["count"]) for row in breach_counts(views, "3301")
                  if row["code"] == "SERVICE_OVERDUE"}
        assert months == {("2025-09", 1), ("2025-10", 1)}
        then = breach_counts(views, "3301", at("2025-10-01T00:00:00"))
        assert [(r["month"], r["code"], r["count"]) for r in then] == [
            ("2025-09", "SERVICE_OVERDUE", 1)]
    finally:
        case_log.close()
