"""Which memories of an import a store already holds, so that running it again is safe."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import apsw

from secondself.memory import media, validate
from secondself.memory.db import as_int
from secondself.memory.model import NewMemory

# Schema v5's index memories_imported is on (persona, provenance, substr(text, 1, 64)):
# the lookup must use that very expression for SQLite to answer from the index.
LOOKUP = """
    SELECT id FROM memories
    WHERE persona = :persona AND provenance = :provenance
        AND substr(text, 1, 64) = substr(:text, 1, 64) AND text = :text
        AND kind = :kind AND source = :source AND media IS :media
        AND (:created IS NULL OR created = :created)
    ORDER BY id
"""


@dataclass(frozen=True, slots=True)
class Identity:
    """What makes two imported memories the same one: the same words (and media) from the
    same place, for the same persona; and the same time, for a record that states it (a
    file's time is not part of it: touching a file does not make its notes new)."""

    persona: str
    kind: str
    source: str
    provenance: str
    text: str
    media: str | None  # where the store keeps its bytes: a hash of them
    created: float | None


def identity(item: NewMemory, timed: bool) -> Identity:
    return Identity(
        persona=item.persona,
        kind=str(item.kind),
        source=str(item.source),
        provenance=item.provenance,
        text=validate.clean_text(item.text),  # as the store saves it
        media=None if item.media is None else media.relative_path(item.media.data, item.media.ext),
        created=item.created if timed else None,
    )


def already(db: apsw.Connection, identities: Sequence[Identity]) -> list[int | None]:
    """The id each planned memory was saved under by an earlier import, None if it was not.

    One saved memory answers for one planned memory: a file holding the same note twice
    saves it twice, and a run again skips both.
    """
    saved: dict[Identity, Iterator[int]] = {}
    found: list[int | None] = []
    for key in identities:
        if key not in saved:
            rows = db.execute(LOOKUP, asdict(key)).fetchall()
            saved[key] = iter([as_int(row[0]) for row in rows])
        found.append(next(saved[key], None))
    return found
