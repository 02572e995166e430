"""Time words in questions -> [start, end) in local time."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from secondself.memory.time_words import find_time_phrase, time_range

pytestmark = pytest.mark.unit

ZONE = ZoneInfo("Europe/London")  # daylight saving starts on Sunday 29 March 2026


def at(text: str) -> datetime:
    """'2026-03-04 10:30' in ZONE."""
    return datetime.fromisoformat(text).replace(tzinfo=ZONE)


WEDNESDAY = "2026-03-04 10:30"  # Wednesday 4 March 2026

# fmt: off
RANGES = [
    # (now, question, start, end, name)
    (WEDNESDAY, "what did I photograph yesterday?", "2026-03-03 00:00", "2026-03-04 00:00", "yesterday"),
    (WEDNESDAY, "What did I say this morning", "2026-03-04 05:00", "2026-03-04 12:00", "this morning"),
    (WEDNESDAY, "what did I save this afternoon", "2026-03-04 12:00", "2026-03-04 17:00", "this afternoon"),
    (WEDNESDAY, "what did I say yesterday evening", "2026-03-03 17:00", "2026-03-04 00:00", "yesterday evening"),
    (WEDNESDAY, "what did I tell you last night", "2026-03-03 18:00", "2026-03-04 06:00", "last night"),
    # At 01:30 the night under way began yesterday, for "tonight" and "last night" alike.
    ("2026-03-04 01:30", "what did I say tonight", "2026-03-03 18:00", "2026-03-04 06:00", "tonight"),
    ("2026-03-04 01:30", "what did I tell you last night", "2026-03-03 18:00", "2026-03-04 06:00", "last night"),
    (WEDNESDAY, "what did I save today", "2026-03-04 00:00", "2026-03-05 00:00", "today"),
    (WEDNESDAY, "what did I save earlier today", "2026-03-04 00:00", "2026-03-04 10:30", "earlier today"),
    (WEDNESDAY, "what did I save the day before yesterday", "2026-03-02 00:00", "2026-03-03 00:00", "the day before yesterday"),
    (WEDNESDAY, "what did I save two days ago", "2026-03-02 00:00", "2026-03-03 00:00", "two days ago"),
    (WEDNESDAY, "what did I save 10 days ago", "2026-02-22 00:00", "2026-02-23 00:00", "10 days ago"),
    (WEDNESDAY, "what did I say an hour ago", "2026-03-04 09:00", "2026-03-04 10:00", "an hour ago"),
    # Weeks start on Monday; "last week" is the calendar week before this one.
    (WEDNESDAY, "what did I save last week", "2026-02-23 00:00", "2026-03-02 00:00", "last week"),
    (WEDNESDAY, "what did I save this week", "2026-03-02 00:00", "2026-03-09 00:00", "this week"),
    (WEDNESDAY, "what did I save two weeks ago", "2026-02-16 00:00", "2026-02-23 00:00", "two weeks ago"),
    (WEDNESDAY, "what did I save in the last three days", "2026-03-02 00:00", "2026-03-05 00:00", "the past three days"),
    (WEDNESDAY, "photos from the past week", "2026-02-26 00:00", "2026-03-05 00:00", "the past week"),
    # A weekday is the last one before today; "this Monday" is this week's.
    (WEDNESDAY, "what did I save on Monday", "2026-03-02 00:00", "2026-03-03 00:00", "Monday"),
    (WEDNESDAY, "what did I save last Monday", "2026-03-02 00:00", "2026-03-03 00:00", "last Monday"),
    (WEDNESDAY, "what did I save on Wednesday", "2026-02-25 00:00", "2026-02-26 00:00", "Wednesday"),
    (WEDNESDAY, "what did I photograph on Thursday", "2026-02-26 00:00", "2026-02-27 00:00", "Thursday"),
    (WEDNESDAY, "what did I save this Monday", "2026-03-02 00:00", "2026-03-03 00:00", "this Monday"),
    (WEDNESDAY, "what did I photograph over the weekend", "2026-02-28 00:00", "2026-03-02 00:00", "the weekend"),
    (WEDNESDAY, "what did I photograph last weekend", "2026-02-28 00:00", "2026-03-02 00:00", "last weekend"),
    ("2026-03-08 12:00", "photos from the weekend", "2026-03-07 00:00", "2026-03-09 00:00", "the weekend"),
    ("2026-03-08 12:00", "what did I save last weekend", "2026-02-28 00:00", "2026-03-02 00:00", "last weekend"),
    # Months and years.
    (WEDNESDAY, "what did I save this month", "2026-03-01 00:00", "2026-04-01 00:00", "this month"),
    (WEDNESDAY, "what did I save last month", "2026-02-01 00:00", "2026-03-01 00:00", "last month"),
    (WEDNESDAY, "what did I save in January", "2026-01-01 00:00", "2026-02-01 00:00", "January"),
    (WEDNESDAY, "what did I save in March", "2026-03-01 00:00", "2026-04-01 00:00", "March"),
    (WEDNESDAY, "what did I save last March", "2025-03-01 00:00", "2025-04-01 00:00", "last March"),
    (WEDNESDAY, "what did I save in December", "2025-12-01 00:00", "2026-01-01 00:00", "December"),
    (WEDNESDAY, "what did I save three months ago", "2025-12-01 00:00", "2026-01-01 00:00", "three months ago"),
    (WEDNESDAY, "what did I save last year", "2025-01-01 00:00", "2026-01-01 00:00", "last year"),
    (WEDNESDAY, "what did I save two years ago", "2024-01-01 00:00", "2025-01-01 00:00", "two years ago"),
    (WEDNESDAY, "what did I save this year", "2026-01-01 00:00", "2027-01-01 00:00", "this year"),
    # Midnight, week and month edges.
    ("2026-03-05 00:00", "what did I save yesterday", "2026-03-04 00:00", "2026-03-05 00:00", "yesterday"),
    ("2026-03-04 23:59", "what did I save today", "2026-03-04 00:00", "2026-03-05 00:00", "today"),
    ("2026-03-02 00:10", "what did I save last week", "2026-02-23 00:00", "2026-03-02 00:00", "last week"),
    ("2026-03-02 00:10", "what did I save this week", "2026-03-02 00:00", "2026-03-09 00:00", "this week"),
    ("2026-03-02 00:10", "what did I save on Monday", "2026-02-23 00:00", "2026-02-24 00:00", "Monday"),
    ("2026-03-01 23:00", "what did I save this week", "2026-02-23 00:00", "2026-03-02 00:00", "this week"),
    ("2026-03-01 00:05", "what did I save last month", "2026-02-01 00:00", "2026-03-01 00:00", "last month"),
    ("2026-01-05 09:00", "what did I save last month", "2025-12-01 00:00", "2026-01-01 00:00", "last month"),
    ("2026-01-05 09:00", "what did I save last week", "2025-12-29 00:00", "2026-01-05 00:00", "last week"),
    ("2026-01-05 09:00", "what did I save yesterday", "2026-01-04 00:00", "2026-01-05 00:00", "yesterday"),
]
# fmt: on


@pytest.mark.parametrize(("now", "question", "start", "end", "name"), RANGES)
def test_time_phrases_are_local_ranges(
    now: str, question: str, start: str, end: str, name: str
) -> None:
    found = time_range(question, at(now))
    assert found is not None, question
    assert (found.start, found.end, found.phrase) == (at(start), at(end), name)


@pytest.mark.parametrize(
    "question",
    [
        "what's the time",
        "What time is it?",
        "when is my birthday",
        "What day is it?",
        "What's my morning routine?",
        "good evening",
        "what am I doing tomorrow",
        "what is on next week",
        "What did I save for next Friday?",
        "what is on this coming monday",
        "how many days until Christmas",
        "Where did I put my weekly planner?",
        "Who is the mayor?",
        "may I ask you something",
        "what did I say",
        "what do I save every Monday",
    ],
)
def test_words_that_are_not_time_ranges(question: str) -> None:
    assert time_range(question, at(WEDNESDAY)) is None


def test_the_earliest_phrase_wins_and_its_place_is_given() -> None:
    found = find_time_phrase("What did I save yesterday, or on Monday?")
    assert found is not None
    assert (found.said, found.start, found.end) == ("yesterday", 16, 25)


def test_a_day_is_midnight_to_midnight_across_daylight_saving() -> None:
    found = time_range("what did I photograph yesterday", at("2026-03-30 09:00"))
    assert found is not None
    assert found.until - found.since == timedelta(hours=23).total_seconds()  # clocks went forward
    assert at("2026-03-29 23:59").timestamp() in found
    assert at("2026-03-30 00:00").timestamp() not in found


def test_a_naive_now_is_local_time() -> None:
    now = datetime(2026, 3, 4, 10, 30)
    found = time_range("what did I save yesterday", now)
    assert found is not None
    assert found.since == datetime(2026, 3, 3).timestamp()
    assert found.until == datetime(2026, 3, 4).timestamp()
