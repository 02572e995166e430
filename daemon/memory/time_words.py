"""Time words in a text ("yesterday", "last week", "on Monday", "two days ago") found and
placed against a `now` as a [start, end) range of local time.

Pure: the caller gives `now`. An aware `now` (zoneinfo) is used in its own zone; a naive
one is local time. The rules here are the past phrases a question asks with:

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
    N days / weeks / months / years ago, an hour ago  that day, calendar week, month, year; hour
    in the last / past N days (weeks), the past week  rolling: that many days up to today

Phrases about the future ("tomorrow", "next week") are not ranges of what was saved; what
memories also say (the future, named dates) is in `said_time.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from secondself.memory import time_spans as ts
from secondself.memory.time_spans import MONTHS, WEEKDAYS, Span

NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "a couple of": 2, "couple of": 2,
}  # fmt: skip

# Longest first: "a couple of" before "a", "an" before "a".
NUMBER = "(?P<n>" + "|".join(sorted(map(re.escape, NUMBERS), key=len, reverse=True)) + r"|\d{1,3})"
DAY = "|".join(WEEKDAYS)
MONTH = "|".join(MONTHS)


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


# What a phrase means: (match) -> (its name for a reply, its span relative to a `now`).
Meaning = tuple[str, Callable[[datetime], Span]]


@dataclass(frozen=True, slots=True)
class Rule:
    """A pattern (matched on the normalized text, at word boundaries) and what it means; a
    phrase that can point either way ("on Friday") has a second meaning for the future."""

    pattern: re.Pattern[str]
    meaning: Callable[[re.Match[str]], Meaning]
    ahead: Callable[[re.Match[str]], Meaning] | None = None


def rule(
    pattern: str,
    meaning: Callable[[re.Match[str]], Meaning],
    ahead: Callable[[re.Match[str]], Meaning] | None = None,
) -> Rule:
    return Rule(re.compile(rf"\b(?:{pattern})\b"), meaning, ahead)


def number(text: str) -> int:
    return int(text) if text.isdigit() else NUMBERS[text]


def _shifted_days(offset: int) -> Callable[[re.Match[str]], Meaning]:
    """A day `offset` days from today ("yesterday" is -1)."""
    return lambda m: (m[0], lambda now: ts.days(now.date() + timedelta(days=offset), 1, now))


def _earlier_today(m: re.Match[str]) -> Meaning:
    return m[0], lambda now: (ts.at(now.date(), now), now)


def _part_of_day(m: re.Match[str]) -> Meaning:
    offset = -1 if m["day"] == "yesterday" else 0
    return m[0], lambda now: ts.part_of_day(now.date() + timedelta(days=offset), m["part"], now)


def _night(day_offset: int) -> Callable[[re.Match[str]], Meaning]:
    def span(now: datetime) -> Span:
        # Before 06:00 it is still the night that began yesterday: "tonight" and "last
        # night" both mean that one (not a night that has not begun).
        offset = day_offset if now.hour >= ts.NIGHT[1] else -1
        return ts.night(now.date() + timedelta(days=offset), now)

    return lambda m: (m[0], span)


def shifted(unit: str, n: int, now: datetime) -> Span:
    """The hour, day, calendar week, month or year `n` units from now (back when n < 0)."""
    if unit == "hour":  # "an hour ago": around then
        return now + timedelta(hours=n, minutes=-30), now + timedelta(hours=n, minutes=30)
    if unit == "day":
        return ts.days(now.date() + timedelta(days=n), 1, now)
    if unit == "week":
        return ts.week(ts.monday(now.date()) + timedelta(weeks=n), now)
    if unit == "month":
        return ts.month(now.year, now.month + n, now)
    return ts.year(now.year + n, now)


def _ago(m: re.Match[str]) -> Meaning:
    n, unit = number(m["n"]), m["unit"].rstrip("s")
    return m[0], lambda now: shifted(unit, -n, now)


def _rolling(m: re.Match[str]) -> Meaning:
    """The last N days (weeks, months of 30 days) up to the end of today."""
    n = number(m["n"]) if m["n"] else 1
    unit = m["unit"].rstrip("s")
    count = n * {"day": 1, "week": 7, "month": 30}[unit]
    name = f"the past {m['n']} {m['unit']}" if m["n"] else f"the past {unit}"
    return name, lambda now: ts.days(now.date() - timedelta(days=count - 1), count, now)


def calendar_unit(m: re.Match[str]) -> Meaning:
    """This, last or next week, month or year."""
    n = {"this": 0, "last": -1, "next": 1}[m["which"]]
    return m[0], lambda now: shifted(m["unit"], n, now)


def weekday(m: re.Match[str]) -> Meaning:
    target = WEEKDAYS.index(m["day"])
    day = m["day"].capitalize()
    if m["which"] == "this":
        return f"this {day}", lambda now: ts.days(
            ts.monday(now.date()) + timedelta(days=target), 1, now
        )
    # Before today: today is "today".
    prefix = "last " if m["which"] == "last" else ""
    return prefix + day, lambda now: ts.days(ts.weekday_before(now.date(), target), 1, now)


def named_month_span(target: int, now: datetime, ahead: bool, strictly: bool) -> Span:
    """The month `target` (1-12) last begun (next to come when `ahead`); `strictly` skips
    this month ("last March" said in March is a year ago)."""
    year = now.year
    if ahead and (target < now.month or (strictly and target == now.month)):
        year += 1
    if not ahead and (target > now.month or (strictly and target == now.month)):
        year -= 1
    return ts.month(year, target, now)


def named_month(m: re.Match[str]) -> Meaning:
    target = MONTHS.index(m["month"]) + 1
    strictly = m["which"] == "last"
    name = ("last " if strictly else "") + m["month"].capitalize()
    return name, lambda now: named_month_span(target, now, ahead=False, strictly=strictly)


def weekend(m: re.Match[str]) -> Meaning:
    which = m["which"] or "the"

    def span(now: datetime) -> Span:
        saturday = ts.monday(now.date()) + timedelta(days=ts.SATURDAY)  # this week's
        if which == "last" or (which == "the" and now.date().weekday() < ts.SATURDAY):
            saturday -= timedelta(days=7)  # the one before this week
        return ts.weekend(saturday, now)

    return f"{which} weekend", span


WEEKDAY = rf"(?<!next )(?<!coming )(?<!every )(?<!each )(?:(?P<which>on|last|this) )?(?P<day>{DAY})"
IN_MONTH = rf"(?P<which>in|last) (?P<month>{MONTH})"
THE_WEEKEND = r"(?P<which>last|this) weekend|(?:over|at|on|from|during) the weekend"

PAST_RULES: tuple[Rule, ...] = (
    rule("the day before yesterday", _shifted_days(-2)),
    rule(r"(?P<day>yesterday|this) (?P<part>morning|afternoon|evening)", _part_of_day),
    rule("last night", _night(-1)),
    rule("tonight", _night(0)),
    rule("earlier today", _earlier_today),
    rule("yesterday", _shifted_days(-1)),
    rule("today", _shifted_days(0)),
    rule(rf"{NUMBER} (?P<unit>hours?|days?|weeks?|months?|years?) ago", _ago),
    rule(
        rf"(?:in|over|during|for) the (?:last|past) (?:{NUMBER} )?(?P<unit>days?|weeks?|months?)",
        _rolling,
    ),
    rule(r"the past (?P<n>)(?P<unit>week|month)", _rolling),
    rule(r"(?P<which>this|last) (?P<unit>week|month|year)", calendar_unit),
    rule(THE_WEEKEND, weekend),
    # Not "next Friday" or "this coming Friday": the future is not a range of what was saved;
    # nor "every Friday": that is no one day.
    rule(WEEKDAY, weekday),
    rule(IN_MONTH, named_month),
)


def normalize(text: str) -> str:
    """Lower case, single spaces, straight apostrophes: what phrase positions index into."""
    return " ".join(text.lower().replace("\u2019", "'").split())


def first_match(lowered: str, rules: Sequence[Rule]) -> tuple[re.Match[str], Rule] | None:
    """The earliest phrase in a normalized text (the longest there) and the rule it is."""
    best: tuple[tuple[int, int], re.Match[str], Rule] | None = None
    for r in rules:
        m = r.pattern.search(lowered)
        if m is None:
            continue
        key = (m.start(), m.start() - m.end())
        if best is None or key < best[0]:
            best = (key, m, r)
    return None if best is None else (best[1], best[2])


def phrase_of(m: re.Match[str], meaning: Callable[[re.Match[str]], Meaning]) -> TimePhrase:
    name, span = meaning(m)
    return TimePhrase(m[0], name, m.start(), m.end(), span)


def find_time_phrase(text: str) -> TimePhrase | None:
    """The first time phrase a question asks with (the earliest in the text; the longest
    there). Its `start` and `end` index into `normalize(text)`."""
    found = first_match(normalize(text), PAST_RULES)
    return None if found is None else phrase_of(found[0], found[1].meaning)


def time_range(text: str, now: datetime) -> TimeRange | None:
    """The range of local time a question's time phrase names, relative to `now`."""
    phrase = find_time_phrase(text)
    return None if phrase is None else phrase.range(now)
