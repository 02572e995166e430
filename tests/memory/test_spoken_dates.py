"""Moments and spans of time said naturally, by their dates or relative to now."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from secondself.memory.spoken_dates import natural_date, span_name, span_said, spoken_time

pytestmark = pytest.mark.unit

ZONE = ZoneInfo("Europe/London")


def at(text: str) -> datetime:
    """'2026-03-04 10:30' in ZONE."""
    return datetime.fromisoformat(text).replace(tzinfo=ZONE)


WEDNESDAY = "2026-03-04 10:30"  # Wednesday 4 March 2026
MONDAY = "2023-05-08 14:00"  # Monday 8 May 2023

# fmt: off
SPANS = [
    # (start, end, by its dates, as an answer says it far from it)
    ("2023-05-07 00:00", "2023-05-08 00:00", "Sunday 7 May 2023", "on Sunday 7 May 2023"),
    ("2023-05-08 05:00", "2023-05-08 12:00", "the morning of Monday 8 May 2023", "on the morning of Monday 8 May 2023"),
    ("2023-05-08 17:00", "2023-05-09 00:00", "the evening of Monday 8 May 2023", "on the evening of Monday 8 May 2023"),
    ("2023-05-07 18:00", "2023-05-08 06:00", "the night of Sunday 7 May 2023", "on the night of Sunday 7 May 2023"),
    ("2023-05-06 00:00", "2023-05-08 00:00", "the weekend of 6 and 7 May 2023", "over the weekend of 6 and 7 May 2023"),
    ("2023-09-30 00:00", "2023-10-02 00:00", "the weekend of 30 September and 1 October 2023", "over the weekend of 30 September and 1 October 2023"),
    ("2023-04-24 00:00", "2023-05-01 00:00", "the week of 24 April 2023", "in the week of 24 April 2023"),
    ("2023-04-01 00:00", "2023-05-01 00:00", "April 2023", "in April 2023"),
    ("2022-12-01 00:00", "2023-01-01 00:00", "December 2022", "in December 2022"),
    ("2022-01-01 00:00", "2023-01-01 00:00", "2022", "in 2022"),
    ("2023-05-06 00:00", "2023-05-09 00:00", "6 May 2023 to 8 May 2023", "between 6 May 2023 and 8 May 2023"),
    # Within one day but no part of it ("an hour ago", "earlier today"): that day.
    ("2023-05-08 12:30", "2023-05-08 13:30", "Monday 8 May 2023", "on Monday 8 May 2023"),
]
# fmt: on


@pytest.mark.parametrize(("start", "end", "name", "said"), SPANS)
def test_a_span_is_said_by_its_shape(start: str, end: str, name: str, said: str) -> None:
    assert span_name(at(start), at(end)) == name
    assert span_said(at(start), at(end)) == said
    assert span_said(at(start), at(end), at("2030-01-01 12:00")) == said  # long after


@pytest.mark.parametrize(
    ("start", "end", "now", "said"),
    [
        ("2023-05-07 00:00", "2023-05-08 00:00", MONDAY, "yesterday"),
        ("2023-05-08 00:00", "2023-05-09 00:00", MONDAY, "today"),
        ("2023-05-09 00:00", "2023-05-10 00:00", MONDAY, "tomorrow"),
        ("2023-05-07 00:00", "2023-05-08 00:00", "2023-05-11 09:00", "last Sunday"),
        ("2023-05-12 00:00", "2023-05-13 00:00", MONDAY, "on Friday"),
        ("2023-05-07 00:00", "2023-05-08 00:00", "2023-05-14 09:00", "on Sunday 7 May 2023"),
        ("2023-05-08 05:00", "2023-05-08 12:00", MONDAY, "this morning"),
        ("2023-05-08 05:00", "2023-05-08 12:00", "2023-05-09 09:00", "yesterday morning"),
        ("2023-05-07 18:00", "2023-05-08 06:00", MONDAY, "last night"),
        ("2023-05-08 18:00", "2023-05-09 06:00", MONDAY, "tonight"),
        ("2023-05-06 00:00", "2023-05-08 00:00", MONDAY, "last weekend"),
        ("2023-05-01 00:00", "2023-05-08 00:00", MONDAY, "last week"),
        ("2023-05-15 00:00", "2023-05-22 00:00", MONDAY, "next week"),
        ("2023-04-01 00:00", "2023-05-01 00:00", MONDAY, "last month"),
        ("2023-06-01 00:00", "2023-07-01 00:00", MONDAY, "next month"),
        ("2022-01-01 00:00", "2023-01-01 00:00", MONDAY, "last year"),
        ("2021-01-01 00:00", "2022-01-01 00:00", MONDAY, "in 2021"),
    ],
)
def test_a_near_span_is_said_relative_to_now(start: str, end: str, now: str, said: str) -> None:
    assert span_said(at(start), at(end), at(now)) == said


def test_natural_date() -> None:
    assert natural_date(at("2023-05-08 23:30").timestamp(), ZONE) == "8 May 2023"
    assert natural_date(at("2023-05-08 23:30").timestamp(), ZoneInfo("UTC")) == "8 May 2023"
    assert natural_date(at("2023-05-09 00:30").timestamp(), ZoneInfo("UTC")) == "8 May 2023"


@pytest.mark.parametrize(
    ("moment", "said"),
    [
        ("2026-03-04 09:12", "today at 09:12"),
        ("2026-03-04 00:00", "today at 00:00"),
        ("2026-03-03 23:59", "yesterday at 23:59"),
        ("2026-03-03 14:05", "yesterday at 14:05"),
        ("2026-03-02 18:30", "on Monday at 18:30"),
        ("2026-02-26 08:00", "on Thursday at 08:00"),
        ("2026-02-25 08:00", "on 25 February at 08:00"),
        ("2025-12-31 22:00", "on 31 December 2025 at 22:00"),
    ],
)
def test_spoken_time(moment: str, said: str) -> None:
    assert spoken_time(at(moment).timestamp(), at(WEDNESDAY)) == said
