"""Time words as a memory says them, placed against the moment it was said: the past phrases
of questions (`time_words.py`), and also the future and named dates.

    tomorrow / the day after tomorrow / later today   that day (later today: now to midnight)
    tomorrow morning, afternoon, evening, night       that part of tomorrow
    next week, month, year / next weekend             the calendar one after this one
    next Friday                                       Friday of next week
    this coming Friday / coming Friday                the first Friday after today
    in N days, weeks, months, years / N ... from now  that day, calendar week, month, year
    next March                                        the first March after this month
    in 2019 / in May 2019 / on 3 May 2019 / May 3rd   that year, month or day
    on 3 May / the 3rd of May (no year)               the last one, or the next one (below)

A phrase that can point either way ("on Friday", "in March", "at the weekend", "this
Friday", "on 3 May") is placed ahead when its sentence is about the future ("I'll", "going
to", "is", "have a") and behind otherwise: memories mostly tell what happened.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta

from secondself.memory import time_spans as ts
from secondself.memory import time_words as tw
from secondself.memory.time_spans import MONTHS, WEEKDAYS, Span
from secondself.memory.time_words import DAY, MONTH, NUMBER, Meaning, Rule, TimePhrase, rule

YEAR = r"(?P<year>(?:19|20)\d{2})"
ORDINAL = r"(?P<d>\d{1,2})(?:st|nd|rd|th)?"
_ON_DAY = rf"(?:on )?(?:(?:{DAY}),? )?(?:the )?"

_FUTURE = re.compile(
    r"\b(?:will|won't|shall|gonna|going to|plan(?:ning)? to|hope to|want to|intend to|"
    r"about to|looking forward|can't wait|upcoming|scheduled|booked)\b|'ll\b"
)
_PRESENT = re.compile(
    r"\b(?:am|is|are|i'm|you're|we're|they're|he's|she's|it's|there's|have an?|has an?)\b"
)
_PAST = re.compile(r"\b(?:was|were|did|had|went|been)\b")
_SENTENCE_END = re.compile(r"[.!?;]")


def about_future(sentence: str) -> bool:
    """Whether a (normalized) sentence speaks of what is to come."""
    if _FUTURE.search(sentence):
        return True
    return bool(_PRESENT.search(sentence)) and not _PAST.search(sentence)


def _sentence_around(lowered: str, start: int, end: int) -> str:
    before = [m.end() for m in _SENTENCE_END.finditer(lowered, 0, start)]
    after = _SENTENCE_END.search(lowered, end)
    return lowered[before[-1] if before else 0 : after.start() if after else len(lowered)]


# --- the future ---------------------------------------------------------------------------


def _tomorrow_part(m: re.Match[str]) -> Meaning:
    def span(now: datetime) -> Span:
        day = now.date() + timedelta(days=1)
        return ts.night(day, now) if m["part"] == "night" else ts.part_of_day(day, m["part"], now)

    return m[0], span


def _later_today(m: re.Match[str]) -> Meaning:
    return m[0], lambda now: (now, ts.at(now.date() + timedelta(days=1), now))


def _in_units(m: re.Match[str]) -> Meaning:
    n, unit = tw.number(m["n"]), m["unit"].rstrip("s")
    return m[0], lambda now: tw.shifted(unit, n, now)


def _next_weekend(m: re.Match[str]) -> Meaning:
    return m[0], lambda now: ts.weekend(
        ts.monday(now.date()) + timedelta(weeks=1, days=ts.SATURDAY), now
    )


def _next_weekday(m: re.Match[str]) -> Meaning:
    target = WEEKDAYS.index(m["day"])
    return m[0], lambda now: ts.days(
        ts.monday(now.date()) + timedelta(weeks=1, days=target), 1, now
    )


def _coming_weekday(m: re.Match[str]) -> Meaning:
    target = WEEKDAYS.index(m["day"])
    return m[0], lambda now: ts.days(ts.weekday_after(now.date(), target), 1, now)


def _next_month_named(m: re.Match[str]) -> Meaning:
    target = MONTHS.index(m["month"]) + 1
    return m[0], lambda now: tw.named_month_span(target, now, ahead=True, strictly=True)


# --- either way: the past meaning is time_words', the future one here ---------------------


def _weekday_ahead(m: re.Match[str]) -> Meaning:
    target = WEEKDAYS.index(m["day"])
    if m["which"] == "last":
        return tw.weekday(m)
    if m["which"] == "this":  # this week's, unless it is over: then next week's

        def span(now: datetime) -> Span:
            day = ts.monday(now.date()) + timedelta(days=target)
            return ts.days(day if day >= now.date() else day + timedelta(weeks=1), 1, now)

        return m[0], span
    return _coming_weekday(m)


def _month_ahead(m: re.Match[str]) -> Meaning:
    if m["which"] == "last":
        return tw.named_month(m)
    target = MONTHS.index(m["month"]) + 1
    return m[0], lambda now: tw.named_month_span(target, now, ahead=True, strictly=False)


def _weekend_ahead(m: re.Match[str]) -> Meaning:
    if m["which"] == "last":
        return tw.weekend(m)
    return m[0], lambda now: ts.weekend(ts.monday(now.date()) + timedelta(days=ts.SATURDAY), now)


# --- named dates --------------------------------------------------------------------------


def _day_span(m: re.Match[str], now: datetime, ahead: bool) -> Span:
    """The day a date names; without a year, the last one (the next one when `ahead`). A
    day the month does not have ("31 February") is taken as the month."""
    month = MONTHS.index(m["month"]) + 1
    years = [int(m["year"])] if m["year"] else [now.year - 1, now.year, now.year + 1]
    try:
        candidates = [date(y, month, int(m["d"])) for y in years]
    except ValueError:
        return ts.month(years[len(years) // 2], month, now)
    today = now.date()
    if m["year"]:
        day = candidates[0]
    elif ahead:
        day = min(d for d in candidates if d >= today)
    else:
        day = max(d for d in candidates if d <= today)
    return ts.days(day, 1, now)


def _dated_day(m: re.Match[str]) -> Meaning:
    return m[0], lambda now: _day_span(m, now, ahead=False)


def _dated_day_ahead(m: re.Match[str]) -> Meaning:
    return m[0], lambda now: _day_span(m, now, ahead=True)


def _month_of_year(m: re.Match[str]) -> Meaning:
    month = MONTHS.index(m["month"]) + 1
    return m[0], lambda now: ts.month(int(m["year"]), month, now)


def _year(m: re.Match[str]) -> Meaning:
    return m[0], lambda now: ts.year(int(m["year"]), now)


DATED_RULES: tuple[Rule, ...] = (
    rule(
        rf"{_ON_DAY}{ORDINAL}(?: of)? (?P<month>{MONTH})(?:,? {YEAR})?",
        _dated_day,
        _dated_day_ahead,
    ),
    rule(
        rf"{_ON_DAY}(?P<month>{MONTH}) (?:the )?{ORDINAL}(?:,? {YEAR})?",
        _dated_day,
        _dated_day_ahead,
    ),
    rule(rf"(?:(?:back )?in |during )?(?P<month>{MONTH}),? {YEAR}", _month_of_year),
    rule(rf"(?:back in|in|during) {YEAR}", _year),
)
_IN_A_MONTH = re.compile(rf"in (?:{MONTH})")
# The past meanings of phrases that can point either way, and their future ones.
_AHEAD: dict[Callable[[re.Match[str]], Meaning], Callable[[re.Match[str]], Meaning]] = {
    tw.weekday: _weekday_ahead,
    tw.named_month: _month_ahead,
    tw.weekend: _weekend_ahead,
}
_UNITS = r"(?P<unit>days?|weeks?|months?|years?)"

MEMORY_RULES: tuple[Rule, ...] = (
    *DATED_RULES,
    rule("the day after tomorrow", lambda m: (m[0], lambda now: tw.shifted("day", 2, now))),
    rule(r"tomorrow (?P<part>morning|afternoon|evening|night)", _tomorrow_part),
    rule("tomorrow", lambda m: (m[0], lambda now: tw.shifted("day", 1, now))),
    rule("later today", _later_today),
    rule(r"(?P<which>next) (?P<unit>week|month|year)", tw.calendar_unit),
    rule("next weekend", _next_weekend),
    rule(rf"next (?P<day>{DAY})", _next_weekday),
    rule(rf"(?:this )?coming (?P<day>{DAY})", _coming_weekday),
    rule(rf"next (?P<month>{MONTH})", _next_month_named),
    rule(rf"in {NUMBER} {_UNITS}", _in_units),
    rule(rf"{NUMBER} {_UNITS} from now", _in_units),
    *(Rule(r.pattern, r.meaning, _AHEAD.get(r.meaning)) for r in tw.PAST_RULES),
)


def find_memory_phrase(text: str) -> TimePhrase | None:
    """The first time phrase in a memory's text (the earliest; the longest there), with the
    meaning its sentence gives it. Its `start` and `end` index into `normalize(text)`."""
    lowered = tw.normalize(text)
    found = tw.first_match(lowered, MEMORY_RULES)
    if found is None:
        return None
    m, r = found
    ahead = r.ahead is not None and about_future(_sentence_around(lowered, m.start(), m.end()))
    return tw.phrase_of(m, r.ahead if ahead and r.ahead is not None else r.meaning)


def names_a_date(said: str) -> bool:
    """Whether a phrase found names its own date ("in May 2019", "on 3 May", "in March"),
    not one relative to when it was said ("yesterday", "last March", "on Friday")."""
    return bool(_IN_A_MONTH.fullmatch(said)) or any(r.pattern.fullmatch(said) for r in DATED_RULES)
