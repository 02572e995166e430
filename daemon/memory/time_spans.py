"""Spans of local calendar time, [start, end): days, weeks, weekends, months, years, parts of
a day and nights, in the zone of the `now` they are made with.

Spans are built from calendar dates and wall-clock hours, so a day is midnight to midnight
even when it is 23 or 25 hours long (daylight saving). Weeks start on Monday.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "january february march april may june july august september october november december"
).split()
PARTS = {"morning": (5, 12), "afternoon": (12, 17), "evening": (17, 24)}
NIGHT = (18, 6)  # from 18:00 to 06:00 the next morning
SATURDAY = 5

Span = tuple[datetime, datetime]


def at(day: date, now: datetime, hour: int = 0) -> datetime:
    """`hour` o'clock on `day`, in `now`'s zone (hour 24 is the next midnight)."""
    if hour >= 24:
        day, hour = day + timedelta(days=hour // 24), hour % 24
    return datetime.combine(day, time(hour), tzinfo=now.tzinfo)


def days(first: date, count: int, now: datetime) -> Span:
    return at(first, now), at(first + timedelta(days=count), now)


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week(first_monday: date, now: datetime) -> Span:
    return days(first_monday, 7, now)


def weekend(saturday: date, now: datetime) -> Span:
    return days(saturday, 2, now)


def month_start(year: int, month: int) -> date:
    """The first of a month; months past December (or before January) roll the year."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return date(year, month, 1)


def month(year: int, month: int, now: datetime) -> Span:
    return at(month_start(year, month), now), at(month_start(year, month + 1), now)


def year(number: int, now: datetime) -> Span:
    return at(date(number, 1, 1), now), at(date(number + 1, 1, 1), now)


def part_of_day(day: date, part: str, now: datetime) -> Span:
    first, last = PARTS[part]
    return at(day, now, first), at(day, now, last)


def night(evening: date, now: datetime) -> Span:
    """The night that begins on the evening of `evening`."""
    return at(evening, now, NIGHT[0]), at(evening + timedelta(days=1), now, NIGHT[1])


def weekday_before(day: date, weekday: int) -> date:
    """The last `weekday` (0 = Monday) strictly before `day`."""
    return day - timedelta(days=(day.weekday() - weekday) % 7 or 7)


def weekday_after(day: date, weekday: int) -> date:
    """The first `weekday` (0 = Monday) strictly after `day`."""
    return day + timedelta(days=(weekday - day.weekday()) % 7 or 7)
