"""Order independence of the cross-case rules: the cases of a log, shuffled and interleaved
in any order (a late import of an older case), give the same referral view, alerts and
subject register once every event is in."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from casechain.bootstrap import open_case_log, open_projections, recorder_of
from casechain.domain.deadlines import evaluate
from casechain.projections import read_clocks
from tests.crosscase_stories import (
    FAKE_GOODS,
    at,
    concluded,
    fined,
    inspection,
    minor_fumes,
    referred,
)
from tests.helpers import interleaved
from tests.stories import ORG, PERSON, Story

FIREWORKS = "330226008"  # 非法经营: persons 50,000 of business, organisations 500,000
DOCTOR = "330228007"  # 非法行医: punished twice, ever, and again
AS_OF = ("2025-07-20T00:00:00", "2025-09-06T12:00:00", "2025-10-01T00:00:00",
         "2026-03-01T00:00:00")


def measured(case_id: str, on: str, item: str, jurisdiction: str = "330106",
             subject: dict[str, Any] = ORG, **measures: Any) -> Story:
    """A case concluded at 10:00 on `on` with a threshold's other measures (quantities,
    conduct, sales and unsold stock) and no money involved."""
    story = Story(case_id, jurisdiction=jurisdiction)
    story.filed(item=item, subject=subject, act_date="2025-07-20",
                at=at(on + "T10:00:00") - timedelta(days=1))
    story.add("penalty.investigation_concluded", at=at(on + "T10:00:00"), amount_involved=0,
              illegal_gains=0, circumstances="general", harm="minor", corrected=False,
              major_or_complex=False, **measures)
    return story


def _stories() -> list[Story]:
    """Cases whose cross-case results depend on each other: amounts that add up, a fine that
    settles an earlier act, repeated fines of one act, first violations, inspections; and the
    standards' other conditions — a quantity, an act that is a crime by itself, a weighted
    sum of sales and unsold stock."""
    return [
        concluded("HZ-O1", "2025-07-01", 30000, act_date="2025-06-01"),
        concluded("HZ-O2", "2025-08-01", 25000, act_date="2025-07-01"),
        fined(concluded("HZ-O3", "2025-07-01", 20000, subject=PERSON, act_date="2025-06-01"),
              40000, at("2025-07-10T10:00:00")),
        concluded("HZ-O4", "2025-08-01", 35000, subject=PERSON, act_date="2025-07-01"),
        fined(concluded("HZ-O5", "2025-09-02", 60000, act_date="2025-08-25",
                        item=FAKE_GOODS), 100000, at("2025-09-10T10:00:00")),
        referred("HZ-O6", ("reported", "2025-09-03T10:00:00"),
                 ("approved", "2025-09-04T10:00:00")),
        minor_fumes("HZ-O7", "2025-05-01", at("2025-06-10T10:00:00")),
        minor_fumes("HZ-O8", "2025-08-20", at("2025-09-10T10:00:00")),
        minor_fumes("HZ-O9", "2025-08-20", at("2025-09-20T10:00:00")),
        inspection("HZ-O10", at("2025-06-01T10:00:00")),
        inspection("HZ-O11", at("2025-07-15T10:00:00")),
        inspection("HZ-O12", at("2025-08-01T10:00:00")),
        inspection("HZ-O13", at("2025-08-10T10:00:00"), joint=True),
        measured("HZ-O14", "2025-08-05", "330222005", "3301",
                 quantities={"hazardous_waste_t": 3.2}),
        measured("HZ-O15", "2025-08-06", "330222002", "3301",
                 conduct=["hidden_pipe_toxic_discharge"]),
        measured("HZ-O16", "2025-08-07", FAKE_GOODS, sales_amount=20000, unsold_value=90000),
        # 非法经营 (fireworks): 60,000 of business is a person's crime, not an organisation's
        measured("HZ-O17", "2025-08-08", FIREWORKS, subject=PERSON, turnover=60000),
        measured("HZ-O18", "2025-08-08", FIREWORKS, turnover=60000),
        # 非法行医: punished in 2022 twice, practising again in 2025 (no time window)
        fined(concluded("HZ-O19", "2022-07-01", 0, item=DOCTOR, act_date="2022-06-01"),
              50000, at("2022-08-01T10:00:00")),
        fined(concluded("HZ-O20", "2022-10-01", 0, item=DOCTOR, act_date="2022-09-01"),
              50000, at("2022-11-01T10:00:00")),
        concluded("HZ-O21", "2025-08-09", 0, item=DOCTOR, act_date="2025-07-01"),
        # the police decline; the agency asks the procuratorate to supervise (Decree 310
        # Art. 9) — the longest referral state a view keeps
        referred("HZ-O22", ("reported", "2025-09-03T10:00:00"),
                 ("approved", "2025-09-04T10:00:00"), ("transferred", "2025-09-04T15:00:00"),
                 ("police_declined", "2025-09-08T10:00:00"),
                 ("procuratorate_supervision_requested", "2025-09-09T10:00:00")),
    ]


STORIES = _stories()


def _arrange(order: list[int], seed: int) -> list[dict[str, Any]]:
    """The stories' events with the cases in `order`, interleaved at random (each case's own
    events keep their order, as a case's stream requires)."""
    return interleaved([STORIES[i].events for i in order], seed)


def _results(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Import into a fresh store and read every cross-case result at several instants."""
    with tempfile.TemporaryDirectory() as folder:
        case_log = open_case_log(f"sqlite:///{Path(folder) / 'order.db'}")
        try:
            outcomes = list(case_log.append_many(events))
            assert [o.status for o in outcomes] == ["appended"] * len(events), [
                o.as_dict() for o in outcomes if o.status != "appended"]
            runner = open_projections(case_log)
            runner.catch_up()
            view: Any = runner.views["crosscase"]
            clocks_view: Any = runner.views["deadlines"]
            results: dict[str, Any] = {}
            with recorder_of(case_log).read() as conn:
                results["rows"] = {str(t.name): conn.execute(
                    sa.select(t).order_by(*t.primary_key.columns)).all() for t in
                    (view.cases, view.decisions, view.inspections)}
                clocks = list(read_clocks(conn, clocks_view.table))
                for text in AS_OF:
                    moment = datetime.fromisoformat(text + "+08:00")
                    checks = view.checks(conn, moment)
                    deadlines = [e.as_alert() for e in (evaluate(c, moment) for c in clocks)
                                 if e is not None]
                    results[text] = {
                        "alerts": sorted(checks.alerts(), key=repr),
                        "deadlines": sorted(deadlines, key=repr),
                        "referrals": checks.referrals(), "rates": checks.referral_rates(),
                        "subjects": [checks.subject(s["id"]) for s in (ORG, PERSON)]}
            return results
        finally:
            case_log.close()


@lru_cache(maxsize=1)
def _in_order() -> dict[str, Any]:
    return _results([e for s in STORIES for e in s.events])


def test_the_stories_raise_every_cross_case_alert() -> None:
    """The reference order finds what the stories were built for (so the property below
    compares results that are not all empty)."""
    codes = {a["code"] for a in _in_order()["2026-03-01T00:00:00"]["alerts"]}
    assert codes == {"REFERRAL_MISSING", "PENALTY_INSTEAD_OF_REFERRAL", "DOUBLE_FINE",
                     "FIRST_VIOLATION_FINED", "REPEATED_INSPECTION"}
    referrals = _in_order()["2025-10-01T00:00:00"]["referrals"]
    assert {r["case_id"] for r in referrals if r["threshold_met"]} == {
        "HZ-O2", "HZ-O5", "HZ-O6", "HZ-O14", "HZ-O15", "HZ-O16", "HZ-O17", "HZ-O21",
        "HZ-O22"}
    reasons = {r["case_id"]: r["reason"] for r in referrals}
    assert reasons["HZ-O14"] == "污染环境罪：危险废物 3.2 吨 ≥ 3 吨"


@settings(max_examples=12, deadline=None)
@given(order=st.permutations(range(len(STORIES))), seed=st.integers(0, 2**32 - 1))
def test_cross_case_results_do_not_depend_on_arrival_order(order: list[int], seed: int) -> None:
    """Any order of cases, any interleaving of their events: the same view rows, alerts,
    referral view, rates and subject registers at every instant."""
    assert _results(_arrange(order, seed)) == _in_order()


def test_a_late_import_of_an_older_case_changes_the_later_case(tmp_path: Path) -> None:
    """The newer case is imported alone first (under the threshold), then the older one:
    the newer case now reaches the threshold by the added amounts."""
    newer, older = STORIES[1], STORIES[0]
    case_log = open_case_log(f"sqlite:///{tmp_path / 'late.db'}")
    try:
        runner = open_projections(case_log)
        view: Any = runner.views["crosscase"]
        moment = at("2025-08-10T00:00:00")
        list(case_log.append_many(newer.events))
        runner.catch_up()
        with recorder_of(case_log).read() as conn:
            assert view.checks(conn, moment).thresholds_met() == []
        list(case_log.append_many(older.events))
        runner.catch_up()
        with recorder_of(case_log).read() as conn:
            met = view.checks(conn, moment).thresholds_met()
        assert [(m.case.case_id, m.by, m.total) for m in met] == [("HZ-O2", "cumulative", 55000)]
    finally:
        case_log.close()


def test_the_interleaving_keeps_each_cases_own_order() -> None:
    """The shuffled logs are valid logs: each case's events stay in their order."""
    events = _arrange(list(range(len(STORIES))), 7)
    for story in STORIES:
        mine = [e["event_id"] for e in events if e["case_id"] == story.case_id]
        assert mine == [e["event_id"] for e in story.events]
