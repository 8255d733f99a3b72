"""The cross-case rules on hand-made facts: thresholds by amount, by adding earlier acts, and
by the repeat rule at exactly two years (docs/contract.md "Rule pack"; 《刑法》 as the pack cites)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

from casechain.adapters.rulepack_files import calendar_of, load_pack
from casechain.domain.calendar import WorkCalendar
from casechain.domain.crosscase import CaseFacts, CrossCase, Decision
from casechain.domain.rulepack import RulePack

SH = timezone(timedelta(hours=8))
MINING = "330227002"  # 非法采矿: repeat {penalties: 2, within_years: 2}
FAKE_GOODS = "330221001"  # sales ≥ 50,000, unsold ≥ 150,000, 3 × sold + unsold ≥ 150,000


@lru_cache(maxsize=1)
def _pack() -> tuple[RulePack, WorkCalendar]:
    pack = load_pack()
    return pack, calendar_of(pack)


def moment(day: str) -> datetime:
    return datetime.fromisoformat(day + "T10:00:00").replace(tzinfo=SH)


def case(case_id: str, act: str, item: str = MINING, concluded: str = "2025-04-01",
         amount: float = 0, subject: str = "S1") -> CaseFacts:
    return CaseFacts(case_id=case_id, jurisdiction="330106001", subject_id=subject,
                     item_code=item, team="自然资源", act_date=date.fromisoformat(act),
                     concluded_at=moment(concluded), amount_involved=amount,
                     sales_amount=amount)


def penalty(case_id: str, decided: str, item: str = MINING, subject: str = "S1") -> Decision:
    return Decision(case_id=case_id, seq=9, jurisdiction="330106001", subject_id=subject,
                    item_code=item, act_date=date.fromisoformat(decided) - timedelta(days=30),
                    decided_at=moment(decided), outcome="penalty", fine=10000,
                    circumstances="general", harm="minor", corrected=False)


def checks(cases: list[CaseFacts], decisions: list[Decision],
           as_of: str = "2026-01-01") -> CrossCase:
    pack, calendar = _pack()
    return CrossCase(pack, calendar, cases, decisions, [], moment(as_of))


def test_two_penalties_within_exactly_two_years_make_a_third_act_criminal() -> None:
    """Punished on 10 Mar 2023 and 10 Jan 2024, mining again on 10 Mar 2025: the first
    penalty is exactly two years before the act, and "within" includes the day (刑法 Art. 99)."""
    now = case("HZ-3", "2025-03-10")
    found = checks([case("HZ-1", "2023-02-01"), case("HZ-2", "2023-12-01"), now],
                   [penalty("HZ-1", "2023-03-10"), penalty("HZ-2", "2024-01-10")])
    met = found.threshold_met(found.cases["HZ-3"])
    assert met is not None and met.by == "repeat" and met.added_from == ("HZ-1", "HZ-2")


def test_a_penalty_one_day_more_than_two_years_before_does_not_count() -> None:
    """The first penalty on 9 Mar 2023 is outside the two years before 10 Mar 2025."""
    found = checks([case("HZ-1", "2023-02-01"), case("HZ-2", "2023-12-01"),
                    case("HZ-3", "2025-03-10")],
                   [penalty("HZ-1", "2023-03-09"), penalty("HZ-2", "2024-01-10")])
    assert found.threshold_met(found.cases["HZ-3"]) is None


def test_penalties_of_another_subject_do_not_count() -> None:
    """The repeat rule is about the same subject."""
    found = checks([case("HZ-3", "2025-03-10")],
                   [penalty("HZ-1", "2024-03-10", subject="S2"),
                    penalty("HZ-2", "2024-05-10", subject="S2")])
    assert found.threshold_met(found.cases["HZ-3"]) is None


def test_amounts_cross_the_threshold_only_when_added() -> None:
    """30,000 and 25,000 of fake goods sold by one subject, the first unpunished: the later
    case reaches 55,000 of sales; the earlier one alone stays under 50,000 (追诉标准（一）
    Art. 16)."""
    first = case("HZ-A", "2025-01-10", FAKE_GOODS, "2025-02-01", 30000)
    second = case("HZ-B", "2025-03-10", FAKE_GOODS, "2025-04-01", 25000)
    found = checks([second, first], [])
    assert found.threshold_met(found.cases["HZ-A"]) is None
    met = found.threshold_met(found.cases["HZ-B"])
    assert met is not None and met.by == "cumulative" and met.total == 55000
    assert met.added_from == ("HZ-A",)


def test_amounts_known_only_later_count_from_when_they_are_known() -> None:
    """The earlier act's case concluded after the later one: the threshold is known from the
    later conclusion, and the three days to report count from then."""
    first = case("HZ-A", "2025-01-10", FAKE_GOODS, "2025-05-01", 30000)
    second = case("HZ-B", "2025-03-10", FAKE_GOODS, "2025-04-01", 25000)
    met = checks([first, second], []).threshold_met(second)
    assert met is not None and met.known_at == moment("2025-05-01")


def test_the_checks_see_only_what_had_happened_by_as_of() -> None:
    """As of a day before the second conclusion nothing reaches the threshold."""
    first = case("HZ-A", "2025-01-10", FAKE_GOODS, "2025-02-01", 30000)
    second = case("HZ-B", "2025-03-10", FAKE_GOODS, "2025-04-01", 25000)
    assert checks([first, second], [], as_of="2025-03-31").thresholds_met() == []


def test_one_penalty_in_twelve_months_is_yellow_and_serious_circumstances_red() -> None:
    """三色管理: one penalty → yellow; a penalty for serious circumstances → red."""
    one = checks([case("HZ-1", "2025-02-01")], [penalty("HZ-1", "2025-03-10")],
                 as_of="2025-06-01")
    assert one.colour("S1")[0] == "yellow"
    serious = replace(penalty("HZ-1", "2025-03-10"), circumstances="serious")
    assert checks([case("HZ-1", "2025-02-01")], [serious], as_of="2025-06-01").colour(
        "S1")[0] == "red"
    assert checks([case("HZ-1", "2025-02-01")], [serious], as_of="2026-03-11").colour(
        "S1")[0] == "green"


def test_an_open_correction_order_is_yellow_until_verified() -> None:
    """A correction order not yet verified as corrected makes a subject yellow."""
    ordered = CaseFacts(case_id="HZ-9", jurisdiction="330106001", subject_id="S1",
                        correction_ordered_at=moment("2025-05-01"))
    assert checks([ordered], [], as_of="2025-06-01").colour("S1")[0] == "yellow"
    done = CaseFacts(case_id="HZ-9", jurisdiction="330106001", subject_id="S1",
                     correction_ordered_at=moment("2025-05-01"),
                     correction_done_at=moment("2025-05-20"))
    assert checks([done], [], as_of="2025-06-01").colour("S1")[0] == "green"
