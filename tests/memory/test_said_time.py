"""The time words of memories, resolved against the moment each was said (never the wall
clock): past, future and named dates, the tense that places "on Friday", and what has none."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from secondself.memory.happened import is_relative, resolve
from secondself.memory.model import Happened
from secondself.memory.said_time import about_future

pytestmark = pytest.mark.unit

ZONE = ZoneInfo("Europe/London")  # daylight saving starts on Sunday 26 March 2023


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE)


MONDAY = "2023-05-08 14:00"  # said on Monday 8 May 2023
THURSDAY = "2023-05-11 09:00"
SUNDAY = "2023-05-07 20:00"
NEW_YEAR = "2024-01-02 10:00"

# fmt: off
RESOLVED = [
    # (said at, memory, phrase found, start, end)
    (MONDAY, "I went to a support group yesterday", "yesterday", "2023-05-07", "2023-05-08"),
    (MONDAY, "Yesterday I finally fixed the boiler", "yesterday", "2023-05-07", "2023-05-08"),
    (MONDAY, "We had a picnic the day before yesterday.", "the day before yesterday", "2023-05-06", "2023-05-07"),
    (MONDAY, "I ran 5k this morning before work", "this morning", "2023-05-08 05:00", "2023-05-08 12:00"),
    (MONDAY, "last night I dreamt of the sea", "last night", "2023-05-07 18:00", "2023-05-08 06:00"),
    (MONDAY, "Caroline painted the fence last Saturday", "last saturday", "2023-05-06", "2023-05-07"),
    (MONDAY, "On Friday I met Anna for lunch", "on friday", "2023-05-05", "2023-05-06"),
    (MONDAY, "I saw the dentist on Monday", "on monday", "2023-05-01", "2023-05-02"),
    (MONDAY, "Two weeks ago I started a pottery class", "two weeks ago", "2023-04-24", "2023-05-01"),
    (MONDAY, "I moved to Leeds three months ago", "three months ago", "2023-02-01", "2023-03-01"),
    (MONDAY, "We went camping last weekend, it rained", "last weekend", "2023-05-06", "2023-05-08"),
    (SUNDAY, "Over the weekend we cleared the garage", "over the weekend", "2023-05-06", "2023-05-08"),
    (MONDAY, "Last week my sister visited", "last week", "2023-05-01", "2023-05-08"),
    (MONDAY, "I changed jobs last month", "last month", "2023-04-01", "2023-05-01"),
    (MONDAY, "Last year I ran a marathon in Berlin", "last year", "2022-01-01", "2023-01-01"),
    (NEW_YEAR, "I bought a car last month", "last month", "2023-12-01", "2024-01-01"),
    (MONDAY, "I lived in Lisbon in 2019", "in 2019", "2019-01-01", "2020-01-01"),
    (MONDAY, "In May 2019 we adopted a cat called Tigger", "in may 2019", "2019-05-01", "2019-06-01"),
    (MONDAY, "My grandmother was born on 3 March 1941", "on 3 march 1941", "1941-03-03", "1941-03-04"),
    (MONDAY, "we got married on the 14th of February", "on the 14th of february", "2023-02-14", "2023-02-15"),
    (MONDAY, "We met in March", "in march", "2023-03-01", "2023-04-01"),
    # The future.
    (MONDAY, "I'll see you next Friday", "next friday", "2023-05-19", "2023-05-20"),
    (MONDAY, "Tomorrow I fly to Rome", "tomorrow", "2023-05-09", "2023-05-10"),
    (MONDAY, "tomorrow evening is the school play", "tomorrow evening", "2023-05-09 17:00", "2023-05-10 00:00"),
    (MONDAY, "Next week I start the new job", "next week", "2023-05-15", "2023-05-22"),
    (MONDAY, "Next month we are going to Spain", "next month", "2023-06-01", "2023-07-01"),
    (MONDAY, "My passport expires next year", "next year", "2024-01-01", "2025-01-01"),
    (MONDAY, "The concert is in two weeks", "in two weeks", "2023-05-22", "2023-05-29"),
    (MONDAY, "We will repaint the kitchen this coming Saturday", "this coming saturday", "2023-05-13", "2023-05-14"),
    (MONDAY, "Tonight we're having pizza", "tonight", "2023-05-08 18:00", "2023-05-09 06:00"),
    (MONDAY, "We are flying out in a couple of days", "in a couple of days", "2023-05-10", "2023-05-11"),
    # Either way, by the sentence: ahead when it speaks of the future.
    (MONDAY, "I'm seeing the doctor on Thursday", "on thursday", "2023-05-11", "2023-05-12"),
    (THURSDAY, "I have a meeting on Monday", "on monday", "2023-05-15", "2023-05-16"),
    (THURSDAY, "The meeting was on Monday", "on monday", "2023-05-08", "2023-05-09"),
    (MONDAY, "We're going to Wales in March", "in march", "2024-03-01", "2024-04-01"),
    (MONDAY, "I'm going to paint the shed at the weekend", "at the weekend", "2023-05-13", "2023-05-15"),
    (MONDAY, "My birthday is on the 14th of February", "on the 14th of february", "2024-02-14", "2024-02-15"),
    # Only the first phrase counts; its sentence decides.
    (MONDAY, "Yesterday I booked the flights. We fly on Friday!", "yesterday", "2023-05-07", "2023-05-08"),
    # "yesterday's news" is resolved too: harmless (the text is kept as it was said).
    (MONDAY, "yesterday's news is old news", "yesterday", "2023-05-07", "2023-05-08"),
    # The phrase is found in any case and spacing; a photo names its own day.
    (MONDAY, "we  went   SWIMMING  Last  Saturday", "last saturday", "2023-05-06", "2023-05-07"),
    ("2026-03-03 14:05", "Photograph taken on Tuesday 3 March 2026 at 14:05: my red bike", "on tuesday 3 march 2026", "2026-03-03", "2026-03-04"),
]
# fmt: on


def _moment(text: str) -> float:
    return at(text if " " in text else f"{text} 00:00").timestamp()


@pytest.mark.parametrize(("said_at", "text", "phrase", "start", "end"), RESOLVED)
def test_time_words_are_resolved_against_when_the_memory_was_said(
    said_at: str, text: str, phrase: str, start: str, end: str
) -> None:
    found = resolve(text, at(said_at).timestamp(), ZONE)
    assert found == Happened(phrase, _moment(start), _moment(end)), text


@pytest.mark.parametrize(
    "text",
    [
        "My dog is called Biscuit",
        "The wifi password is on the fridge",
        "Anna likes her coffee black",
        "I may go to the market",  # "may" is not May
        "I parked on level 3",
        "The bins go out every Tuesday",  # no one day
        "The gym is open on Sundays",
        "Mondays are the worst",
        "My weekly planner is in the drawer",
        "I keep my morning pills in the blue box",
        "",
    ],
)
def test_text_that_names_no_time_resolves_to_none(text: str) -> None:
    assert resolve(text, at(MONDAY).timestamp(), ZONE) is None


def test_a_day_is_midnight_to_midnight_across_daylight_saving() -> None:
    found = resolve("we put the clocks forward yesterday", at("2023-03-27 09:00").timestamp(), ZONE)
    assert found is not None
    assert found.end - found.start == 23 * 3600
    assert (found.start, found.end) == (_moment("2023-03-26"), _moment("2023-03-27"))


def test_an_impossible_date_is_taken_as_its_month() -> None:
    found = resolve("it was on 31 February", at(MONDAY).timestamp(), ZONE)
    assert found is not None
    assert (found.start, found.end) == (_moment("2023-02-01"), _moment("2023-03-01"))


@pytest.mark.parametrize(
    ("sentence", "future"),
    [
        ("i'll see you on friday", True),
        ("we are going to paint it on friday", True),
        ("the party is on friday", True),
        ("i have a meeting on friday", True),
        ("i saw her on friday", False),
        ("the party was on friday", False),
        ("anna came round on friday", False),
    ],
)
def test_the_sentence_says_whether_it_is_about_the_future(sentence: str, future: bool) -> None:
    assert about_future(sentence) is future


@pytest.mark.parametrize(
    ("text", "relative"),
    [
        ("I went yesterday", True),
        ("I went last March", True),
        ("I went on Friday", True),
        ("I went two weeks ago", True),
        ("I moved in May 2019", False),
        ("I lived there in 2019", False),
        ("I was born on 3 March 1941", False),
        ("My birthday is on the 14th of February", False),
        ("We met in March", False),
    ],
)
def test_relative_phrases_are_told_from_named_dates(text: str, relative: bool) -> None:
    found = resolve(text, at(MONDAY).timestamp(), ZONE)
    assert found is not None and is_relative(found) is relative
