"""Working days and statutory periods (Administrative Penalty Law Art. 85).

Working days follow the Chinese statutory calendar with its make-up working days (调休): the
`chinese-calendar` package for the years it knows, and holiday tables supplied by the rule
pack for years it does not know yet (its tables end with 2026). A date outside both is an
explicit `CalendarUnknown` naming the date and the year — never a weekends-only guess.
The package's `find_workday` is not used: it is off by one when counting starts on a rest day.

Conventions (docs/contract.md, "Deadlines and alerts"): the day of the triggering event is not
counted; a day-based period is due at the end (24:00 Asia/Shanghai) of its last day; a
calendar-day period whose last day is a rest day ends on the next working day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone

import chinese_calendar

from casechain.domain.bounds import EARLIEST, LATEST
from casechain.errors import CaseChainError

__all__ = ["SHANGHAI", "CalendarUnknown", "InstantOutOfRange", "WorkCalendar", "YearTable",
           "end_of_day", "instant", "local_day"]

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


def instant(text: str | None) -> datetime:
    """An `as_of` instant: ISO 8601, Asia/Shanghai when it has no offset, now when None;
    ValueError when it is not ISO 8601."""
    if text is None:
        return datetime.now(SHANGHAI)
    moment = datetime.fromisoformat(text)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=SHANGHAI)
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        raise InstantOutOfRange(text) from None
    if not EARLIEST <= utc < LATEST:
        raise InstantOutOfRange(text)
    return moment


class InstantOutOfRange(CaseChainError, ValueError):
    """An instant outside the years 2000-2099 that CaseChain records."""

    def __init__(self, text: str) -> None:
        super().__init__(f"{text} lies outside the years 2000-2099 that CaseChain records")


def local_day(moment: str) -> str:
    """The Asia/Shanghai day (YYYY-MM-DD) of an RFC 3339 instant. Most instants carry
    +08:00: their first ten characters are the day, without parsing (views ask per event)."""
    if moment.endswith("+08:00"):
        return moment[:10]
    return datetime.fromisoformat(moment).astimezone(SHANGHAI).date().isoformat()


class CalendarUnknown(CaseChainError):
    """No holiday data for the year of a date: neither the package nor the rule pack has it."""

    def __init__(self, day: date) -> None:
        self.day = day
        super().__init__(f"no statutory holiday data for {day.isoformat()} (year {day.year}): "
                         f"add the year's holidays and make-up working days to the rule pack's "
                         f"calendar section")


@dataclass(frozen=True)
class YearTable:
    """One year's statutory rest days (holidays) and make-up working days (调休上班)."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()


@dataclass(frozen=True)
class WorkCalendar:
    """Working-day arithmetic over the package's tables plus the pack's extra years."""

    extra_years: Mapping[int, YearTable] = field(default_factory=dict)
    _known: dict[date, bool] = field(default_factory=dict, compare=False, repr=False)

    def is_workday(self, day: date) -> bool:
        """True on a working day (a weekday that is not a holiday, or a make-up day)."""
        known = self._known.get(day)
        if known is None:
            known = self._known[day] = self._is_workday(day)
        return known

    def _is_workday(self, day: date) -> bool:
        table = self.extra_years.get(day.year)
        if table is not None:
            if day in table.workdays:
                return True
            return day not in table.holidays and day.weekday() < 5
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            raise CalendarUnknown(day) from None

    def add_workdays(self, start: date, count: int) -> date:
        """The `count`-th working day after `start` (`start` itself is not counted)."""
        day, left = start, count
        while left > 0:
            day += timedelta(days=1)
            if self.is_workday(day):
                left -= 1
        return day

    def add_calendar_days(self, start: date, count: int) -> date:
        """The last day of a calendar-day period of `count` days after `start`, moved to the
        next working day when it falls on a rest day."""
        day = start + timedelta(days=count)
        while not self.is_workday(day):
            day += timedelta(days=1)
        return day

    def workday_deadline(self, start: datetime, count: int) -> datetime:
        """24:00 Asia/Shanghai of the `count`-th working day after the day of `start`."""
        return end_of_day(self.add_workdays(start.astimezone(SHANGHAI).date(), count))

    def calendar_deadline(self, start: datetime, count: int) -> datetime:
        """24:00 Asia/Shanghai of the last day of a `count`-day period after `start`."""
        return end_of_day(self.add_calendar_days(start.astimezone(SHANGHAI).date(), count))


def end_of_day(day: date) -> datetime:
    """24:00 of `day` in Asia/Shanghai (the first instant of the next day)."""
    return datetime.combine(day + timedelta(days=1), time.min, SHANGHAI)
