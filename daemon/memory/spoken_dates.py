"""Moments and spans of time said naturally: "8 May 2023", "Sunday 7 May 2023", "the week of
24 April 2023", and relative to a `now` when that is clearer ("yesterday", "last Tuesday").

A span is said by its shape (a day, a part of a day, a night, a weekend, a calendar week,
month or year, else a range of days), so a span read back from the store needs nothing
but its two ends.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo

from secondself.memory import time_spans as ts


def natural_date(moment: float, zone: tzinfo | None = None) -> str:
    """The day of `moment` (unix seconds), local time unless `zone`: "8 May 2023"."""
    day = datetime.fromtimestamp(moment, tz=zone)
    return f"{day.day} {day:%B %Y}"


def day_name(day: date) -> str:
    """ "Sunday 7 May 2023"."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def _short(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def span_shape(start: datetime, end: datetime) -> str:
    """What a span is: day, morning/afternoon/evening, night, weekend, week, month, year or
    days (any other run of days)."""
    first, after = start.date(), end.date()
    midnights = start.time() == end.time() == datetime.min.time()
    if midnights and after == first + timedelta(days=1):
        return "day"
    if first == after or (end.hour == 0 and end.minute == 0 and after == first + timedelta(days=1)):
        for part, (begins, ends) in ts.PARTS.items():
            if (start.hour, end.hour or 24) == (begins, ends):
                return part
        return "day"  # within one day: "an hour ago", "earlier today"
    if (start.hour, end.hour) == ts.NIGHT and after == first + timedelta(days=1):
        return "night"
    if not midnights:
        return "days"
    if first.weekday() == ts.SATURDAY and after == first + timedelta(days=2):
        return "weekend"
    if first.weekday() == 0 and after == first + timedelta(days=7):
        return "week"
    if first.day == 1 and after == ts.month_start(first.year, first.month + 1):
        return "month"
    if (first.month, first.day) == (1, 1) and after == date(first.year + 1, 1, 1):
        return "year"
    return "days"


def span_name(start: datetime, end: datetime) -> str:
    """A span by its dates: "Sunday 7 May 2023", "the morning of Monday 8 May 2023",
    "the weekend of 6 and 7 May 2023", "the week of 24 April 2023", "May 2023", "2022"."""
    shape, first = span_shape(start, end), start.date()
    last = (end - timedelta(microseconds=1)).date()
    if shape == "day":
        return day_name(first)
    if shape in ts.PARTS or shape == "night":
        return f"the {shape} of {day_name(first)}"
    if shape == "weekend":
        pair = f"{first.day} and {last.day} {last:%B %Y}"
        if first.month != last.month:
            pair = f"{first.day} {first:%B} and {last.day} {last:%B %Y}"
        return f"the weekend of {pair}"
    if shape == "week":
        return f"the week of {_short(first)}"
    if shape == "month":
        return f"{first:%B %Y}"
    if shape == "year":
        return str(first.year)
    return f"{_short(first)} to {_short(last)}"


_PREPOSITION = {"day": "on", "weekend": "over", "week": "in", "month": "in", "year": "in"}


def span_said(start: datetime, end: datetime, now: datetime | None = None) -> str:
    """A span as an answer says it, relative to `now` when it is near ("yesterday", "last
    Tuesday", "this morning", "last week", "next month"), else by its dates ("on Sunday 7
    May 2023", "in the week of 24 April 2023", "in 2022")."""
    shape = span_shape(start, end)
    near = None if now is None else _near(shape, start, now)
    if near is not None:
        return near
    name = span_name(start, end)
    if shape == "days":
        return "between " + name.replace(" to ", " and ")
    return f"{_PREPOSITION.get(shape, 'on')} {name}"


def _near(shape: str, start: datetime, now: datetime) -> str | None:
    first, today = start.date(), now.date()
    days = (today - first).days
    if shape == "day" or shape in ts.PARTS:
        named = {0: "today", 1: "yesterday", -1: "tomorrow"}.get(days)
        if shape in ts.PARTS and named is not None:
            return f"this {shape}" if days == 0 else f"{named} {shape}"
        if named is not None:
            return named
        if shape == "day" and 1 < days < 7:
            return f"last {first:%A}"
        if shape == "day" and -7 < days < -1:
            return f"on {first:%A}"
        return None
    if shape == "night":
        return {1: "last night", 0: "tonight", -1: "tomorrow night"}.get(days)
    weeks = (ts.monday(today) - ts.monday(first)).days // 7
    if shape in ("week", "weekend"):
        return _which(weeks, shape)
    if shape == "month":
        return _which((today.year - first.year) * 12 + today.month - first.month, "month")
    if shape == "year":
        return _which(today.year - first.year, "year")
    return None


def _which(back: int, unit: str) -> str | None:
    return {0: f"this {unit}", 1: f"last {unit}", -1: f"next {unit}"}.get(back)


def spoken_time(moment: float, now: datetime) -> str:
    """When `moment` (unix seconds) was, said relative to `now`: "today at 09:12",
    "yesterday at 14:05", "on Monday at 18:30", "on 3 March at 10:00", "on 3 March 2025 at ..."."""
    then = datetime.fromtimestamp(moment, tz=now.tzinfo)
    clock = f"at {then:%H:%M}"
    days = (now.date() - then.date()).days
    if days == 0:
        return f"today {clock}"
    if days == 1:
        return f"yesterday {clock}"
    if 1 < days < 7:
        return f"on {then:%A} {clock}"
    if then.year == now.year:
        return f"on {then.day} {then:%B} {clock}"
    return f"on {then.day} {then:%B %Y} {clock}"
