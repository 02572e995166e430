"""When what a memory tells of happened: the time phrase of its text placed against the
moment it was said (local time), for new memories and for every stored one at once, and
that time said in words."""

from __future__ import annotations

from datetime import datetime, tzinfo

import apsw

from secondself.memory import spoken_dates
from secondself.memory.model import Happened
from secondself.memory.said_time import find_memory_phrase, names_a_date

RESOLVE_BATCH = 1000  # rows read and updated at a time when resolving stored memories


def resolve(text: str, said_at: float, zone: tzinfo | None = None) -> Happened | None:
    """The time `text` names, said at `said_at` (unix seconds; local time unless `zone`);
    None when it names none."""
    phrase = find_memory_phrase(text)
    if phrase is None:
        return None
    span = phrase.range(datetime.fromtimestamp(said_at, tz=zone))
    return Happened(phrase.said, span.since, span.until)


def is_relative(happened: Happened) -> bool:
    """Whether its phrase means something only against when it was said ("yesterday", "last
    March", "on Friday"), not a date it names itself ("in May 2019", "on 3 May", "in March")."""
    return not names_a_date(happened.phrase)


def _span(happened: Happened, zone: tzinfo | None) -> tuple[datetime, datetime]:
    return (
        datetime.fromtimestamp(happened.start, tz=zone),
        datetime.fromtimestamp(happened.end, tz=zone),
    )


def name(happened: Happened, zone: tzinfo | None = None) -> str:
    """Its time by the dates: "Sunday 7 May 2023", "the week of 24 April 2023"."""
    return spoken_dates.span_name(*_span(happened, zone))


def said(happened: Happened, now: datetime) -> str:
    """Its time as an answer says it, relative to `now` (and in its zone) when near:
    "yesterday", "last Sunday", else "on Sunday 7 May 2023", "in the week of 24 April 2023"."""
    return spoken_dates.span_said(*_span(happened, now.tzinfo), now)


def resolve_stored(db: apsw.Connection) -> int:
    """Resolve every stored memory's time phrase again, against its `created` time; returns
    how many name a time. The caller holds the transaction."""
    last, found = 0, 0
    while True:
        rows = db.execute(
            "SELECT id, text, created FROM memories WHERE id > ? ORDER BY id LIMIT ?",
            (last, RESOLVE_BATCH),
        ).fetchall()
        if not rows:
            return found
        updates: list[tuple[float | None, float | None, str | None, int]] = []
        for memory_id, text, created in rows:
            assert isinstance(memory_id, int) and isinstance(created, int | float)
            happened = resolve(str(text), float(created))
            if happened is None:
                updates.append((None, None, None, memory_id))
            else:
                found += 1
                updates.append((happened.start, happened.end, happened.phrase, memory_id))
            last = memory_id
        db.executemany(
            "UPDATE memories SET happened_from = ?, happened_to = ?, happened_phrase = ? "
            "WHERE id = ?",
            updates,
        )
