"""Time words in a question ("yesterday", "last week", "on Monday", "two days ago") as a
[start, end) range of local time, and a moment said back ("yesterday at 14:05").

Pure: the caller gives `now`. An aware `now` (zoneinfo) is used in its own zone; a naive
one is local time. Ranges are built from calendar dates and wall-clock hours, so a day is
midnight to midnight even when it is 23 or 25 hours long (daylight saving).

    today / yesterday / the day before yesterday      that calendar day
    this / yesterday morning, afternoon, evening      05-12, 12-17, 17-24
    last night / tonight                              18:00 to 06:00 the next day
    earlier today                                     today's midnight to now
    on Monday / last Monday / Monday                  the last Monday before today
    this Monday                                       this week's Monday (weeks start Monday)
    this / last week, month, year                     that calendar week, month or year
    this weekend / last weekend                       this week's / last week's Saturday, Sunday
    over (at, on, from) the weekend                   the last weekend begun
    in March / last March                             the last March begun / before this month
    N days / weeks / months ago, an hour ago          that day, calendar week, month; the hour
    in the last / past N days (weeks), the past week  rolling: that many days up to today

Phrases about the future ("tomorrow", "next week") are not ranges of what was saved.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "january february march april may june july august september october november december"
).split()
NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "a couple of": 2, "couple of": 2,
}  # fmt: skip
PARTS = {"morning": (5, 12), "afternoon": (12, 17), "evening": (17, 24)}
NIGHT = (18, 6)  # from 18:00 to 06:00 the next morning

# Longest first: "a couple of" before "a", "an" before "a".
_NUMBER = "(?P<n>" + "|".join(sorted(map(re.escape, NUMBERS), key=len, reverse=True)) + r"|\d{1,3})"
_DAY = "|".join(WEEKDAYS)
_MONTH = "|".join(MONTHS)

Span = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class TimeRange:
    """[start, end) in the zone of the `now` it was made with."""

    start: datetime
    end: datetime
    phrase: str  # for a reply: "yesterday", "last week", "Monday", "two days ago", "March"

    @property
    def since(self) -> float:
        return self.start.timestamp()

    @property
    def until(self) -> float:
        return self.end.timestamp()

    def __contains__(self, moment: float) -> bool:
        return self.since <= moment < self.until


@dataclass(frozen=True, slots=True)
class TimePhrase:
    """A time phrase found in a text, before it is placed relative to a `now`."""

    said: str  # the words as found, lower case: "on monday", "two days ago"
    name: str  # for a reply: "Monday", "two days ago"
    start: int  # where it is in normalize(text)
    end: int
    _span: Callable[[datetime], Span]

    def range(self, now: datetime) -> TimeRange:
        start, end = self._span(now)
        return TimeRange(start, end, self.name)


def _at(day: date, now: datetime, hour: int = 0) -> datetime:
    """`hour` o'clock on `day`, in `now`'s zone (hour 24 is the next midnight)."""
    if hour >= 24:
        day, hour = day + timedelta(days=hour // 24), hour % 24
    return datetime.combine(day, time(hour), tzinfo=now.tzinfo)


def _days(first: date, count: int, now: datetime) -> Span:
    return _at(first, now), _at(first + timedelta(days=count), now)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _month_start(year: int, month: int) -> date:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return date(year, month, 1)


def _month(year: int, month: int, now: datetime) -> Span:
    return _at(_month_start(year, month), now), _at(_month_start(year, month + 1), now)


def _part(day_offset: int, part: str) -> Callable[[datetime], Span]:
    first, last = PARTS[part]

    def span(now: datetime) -> Span:
        day = now.date() + timedelta(days=day_offset)
        return _at(day, now, first), _at(day, now, last)

    return span


def _night(day_offset: int) -> Callable[[datetime], Span]:
    def span(now: datetime) -> Span:
        # Before 06:00 it is still the night that began yesterday: "tonight" and "last
        # night" both mean that one (not a night that has not begun).
        offset = day_offset if now.hour >= NIGHT[1] else -1
        day = now.date() + timedelta(days=offset)
        return _at(day, now, NIGHT[0]), _at(day + timedelta(days=1), now, NIGHT[1])

    return span


def _number(text: str) -> int:
    return int(text) if text.isdigit() else NUMBERS[text]


# Each rule: a pattern (matched on the lower-cased text, at word boundaries) and what it
# means: (match) -> (the phrase's name for a reply, its span relative to a `now`).
Meaning = tuple[str, Callable[[datetime], Span]]
Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], Meaning]]


def _rule(pattern: str, meaning: Callable[[re.Match[str]], Meaning]) -> Rule:
    return re.compile(rf"\b(?:{pattern})\b"), meaning


def _day_before_yesterday(m: re.Match[str]) -> Meaning:
    return m[0], lambda now: _days(now.date() - timedelta(days=2), 1, now)


def _yesterday(m: re.Match[str]) -> Meaning:
    return m[0], lambda now: _days(now.date() - timedelta(days=1), 1, now)


def _today(m: re.Match[str]) -> Meaning:
    return m[0], lambda now: _days(now.date(), 1, now)


def _earlier_today(m: re.Match[str]) -> Meaning:
    return m[0], lambda now: (_at(now.date(), now), now)


def _part_of_day(m: re.Match[str]) -> Meaning:
    return m[0], _part(-1 if m["day"] == "yesterday" else 0, m["part"])


def _last_night(m: re.Match[str]) -> Meaning:
    return m[0], _night(-1)


def _tonight(m: re.Match[str]) -> Meaning:
    return m[0], _night(0)


def _ago(m: re.Match[str]) -> Meaning:
    n, unit = _number(m["n"]), m["unit"].rstrip("s")
    if unit == "hour":  # "an hour ago": around then
        return m[0], lambda now: (
            now - timedelta(hours=n, minutes=30),
            now - timedelta(hours=n, minutes=-30),
        )
    if unit == "day":
        return m[0], lambda now: _days(now.date() - timedelta(days=n), 1, now)
    if unit == "week":
        return m[0], lambda now: _days(_monday(now.date()) - timedelta(weeks=n), 7, now)
    return m[0], lambda now: _month(now.year, now.month - n, now)


def _rolling(m: re.Match[str]) -> Meaning:
    """The last N days (weeks, months of 30 days) up to the end of today."""
    n = _number(m["n"]) if m["n"] else 1
    unit = m["unit"].rstrip("s")
    days = n * {"day": 1, "week": 7, "month": 30}[unit]
    name = f"the past {m['n']} {m['unit']}" if m["n"] else f"the past {unit}"
    return name, lambda now: _days(now.date() - timedelta(days=days - 1), days, now)


def _week(m: re.Match[str]) -> Meaning:
    back = 1 if m["which"] == "last" else 0
    return m[0], lambda now: _days(_monday(now.date()) - timedelta(weeks=back), 7, now)


def _calendar_month(m: re.Match[str]) -> Meaning:
    back = 1 if m["which"] == "last" else 0
    return m[0], lambda now: _month(now.year, now.month - back, now)


def _year(m: re.Match[str]) -> Meaning:
    back = 1 if m["which"] == "last" else 0
    return m[0], lambda now: (
        _at(date(now.year - back, 1, 1), now),
        _at(date(now.year - back + 1, 1, 1), now),
    )


def _weekday(m: re.Match[str]) -> Meaning:
    target = WEEKDAYS.index(m["day"])
    day = m["day"].capitalize()
    if m["which"] == "this":
        return f"this {day}", lambda now: _days(
            _monday(now.date()) + timedelta(days=target), 1, now
        )

    def span(now: datetime) -> Span:
        back = (now.date().weekday() - target) % 7 or 7  # before today: today is "today"
        return _days(now.date() - timedelta(days=back), 1, now)

    return ("last " if m["which"] == "last" else "") + day, span


def _named_month(m: re.Match[str]) -> Meaning:
    target = MONTHS.index(m["month"]) + 1
    strictly_before = m["which"] == "last"

    def span(now: datetime) -> Span:
        year = now.year
        if target > now.month or (strictly_before and target == now.month):
            year -= 1
        return _month(year, target, now)

    return ("last " if strictly_before else "") + m["month"].capitalize(), span


def _weekend(m: re.Match[str]) -> Meaning:
    which = m["which"] or "the"

    def span(now: datetime) -> Span:
        saturday = _monday(now.date()) + timedelta(days=5)  # this week's
        if which == "last" or (which == "the" and now.date().weekday() < 5):
            saturday -= timedelta(days=7)  # the one before this week
        return _days(saturday, 2, now)

    return f"{which} weekend", span


RULES: tuple[Rule, ...] = (
    _rule("the day before yesterday", _day_before_yesterday),
    _rule(r"(?P<day>yesterday|this) (?P<part>morning|afternoon|evening)", _part_of_day),
    _rule("last night", _last_night),
    _rule("tonight", _tonight),
    _rule("earlier today", _earlier_today),
    _rule("yesterday", _yesterday),
    _rule("today", _today),
    _rule(rf"{_NUMBER} (?P<unit>hours?|days?|weeks?|months?) ago", _ago),
    _rule(
        rf"(?:in|over|during|for) the (?:last|past) (?:{_NUMBER} )?(?P<unit>days?|weeks?|months?)",
        _rolling,
    ),
    _rule(r"the past (?P<n>)(?P<unit>week|month)", _rolling),
    _rule(r"(?P<which>this|last) week", _week),
    _rule(r"(?P<which>this|last) month", _calendar_month),
    _rule(r"(?P<which>this|last) year", _year),
    _rule(r"(?P<which>last|this) weekend|(?:over|at|on|from|during) the weekend", _weekend),
    # Not "next Friday" or "this coming Friday": the future is not a range of what was saved.
    _rule(rf"(?<!next )(?<!coming )(?:(?P<which>on|last|this) )?(?P<day>{_DAY})", _weekday),
    _rule(rf"(?P<which>in|last) (?P<month>{_MONTH})", _named_month),
)


def normalize(text: str) -> str:
    """Lower case, single spaces, straight apostrophes: what phrase positions index into."""
    return " ".join(text.lower().replace("\u2019", "'").split())


def find_time_phrase(text: str) -> TimePhrase | None:
    """The first time phrase in `text` (the earliest in the text; the longest there).
    Its `start` and `end` index into `normalize(text)`."""
    lowered = normalize(text)
    best: tuple[int, int, re.Match[str], Callable[[re.Match[str]], Meaning]] | None = None
    for pattern, meaning in RULES:
        m = pattern.search(lowered)
        if m is None:
            continue
        key = (m.start(), -(m.end() - m.start()))
        if best is None or key < (best[0], best[1]):
            best = (key[0], key[1], m, meaning)
    if best is None:
        return None
    m, meaning = best[2], best[3]
    name, span = meaning(m)
    return TimePhrase(m[0], name, m.start(), m.end(), span)


def time_range(text: str, now: datetime) -> TimeRange | None:
    """The range of local time a text's time phrase names, relative to `now`."""
    phrase = find_time_phrase(text)
    return None if phrase is None else phrase.range(now)


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
