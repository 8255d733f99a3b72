"""Working days with the statutory calendar (APL Art. 85; docs/contract.md "Deadlines and alerts")."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from casechain.domain.calendar import SHANGHAI, CalendarUnknown, WorkCalendar, YearTable

CAL = WorkCalendar()


def test_five_working_days_across_national_day_count_the_make_up_saturday() -> None:
    """Notice on Tue 2025-09-30: Oct 1–8 are holidays, Sat Oct 11 is a make-up working day,
    so the five working days are Oct 9, 10, 11, 13, 14 (APL Art. 85)."""
    assert CAL.add_workdays(date(2025, 9, 30), 5) == date(2025, 10, 14)


def test_counting_from_a_rest_day_does_not_count_that_day() -> None:
    """Starting on Sat 2025-10-04 (a holiday), the first working day is Thu Oct 9 — the
    off-by-one of chinese-calendar's find_workday is not repeated here."""
    assert CAL.add_workdays(date(2025, 10, 4), 1) == date(2025, 10, 9)


def test_a_make_up_sunday_is_a_working_day() -> None:
    """Sun 2025-09-28 is a make-up working day for National Day."""
    assert CAL.is_workday(date(2025, 9, 28))
    assert not CAL.is_workday(date(2025, 10, 3))


def test_a_working_day_deadline_is_due_at_midnight_shanghai() -> None:
    """The period ends at 24:00 Asia/Shanghai of its last day, whatever the event's offset."""
    notice = datetime(2025, 9, 30, 2, 0, tzinfo=SHANGHAI).astimezone()
    assert CAL.workday_deadline(notice, 5) == datetime(2025, 10, 15, 0, 0, tzinfo=SHANGHAI)


def test_a_calendar_period_ending_on_a_rest_day_moves_to_the_next_working_day() -> None:
    """15 calendar days from 2025-09-20 end on Sun Oct 5 (holiday): moved to Thu Oct 9."""
    assert CAL.add_calendar_days(date(2025, 9, 20), 15) == date(2025, 10, 9)


def test_a_year_without_data_is_an_explicit_error_naming_the_year() -> None:
    """2027 is beyond the package's tables: no silent weekends-only guess."""
    with pytest.raises(CalendarUnknown, match=r"2027-01-04 \(year 2027\)"):
        CAL.is_workday(date(2027, 1, 4))


def test_the_rule_pack_can_supply_a_year_the_package_does_not_know() -> None:
    """A pack's table for 2027 makes 2027 countable, holidays and make-up days included."""
    cal = WorkCalendar({2027: YearTable(holidays=frozenset({date(2027, 1, 1)}),
                                        workdays=frozenset({date(2027, 1, 2)}))})
    assert not cal.is_workday(date(2027, 1, 1))
    assert cal.is_workday(date(2027, 1, 2))  # a Saturday made a working day
    assert cal.add_workdays(date(2026, 12, 31), 2) == date(2027, 1, 4)
