"""Memory rows in SQL: the columns a `Memory` is read from, and reads of rows by id."""

from __future__ import annotations

from collections.abc import Sequence

import apsw

from secondself.core.errors import Stage, UserError
from secondself.memory.db import as_float, as_int
from secondself.memory.model import Happened, Kind, Memory, Origin, Visibility

COLUMNS = (
    "id, kind, text, persona, visibility, created, valid_from, valid_to, source, "
    "provenance, media, corrects, superseded_by, happened_from, happened_to, happened_phrase, "
    "thread, seq"
)


def to_memory(row: Sequence[object]) -> Memory:
    """The `Memory` of a row selected with `COLUMNS`."""
    (id_, kind, text, persona, vis, created, vfrom, vto, source, prov, med, corr, sup) = row[:13]
    h_from, h_to, h_phrase, thread, seq = row[13:]
    return Memory(
        id=as_int(id_),
        kind=Kind(str(kind)),
        text=str(text),
        persona=str(persona),
        visibility=Visibility(str(vis)),
        created=as_float(created),
        valid_from=as_float(vfrom),
        valid_to=None if vto is None else as_float(vto),
        source=Origin(str(source)),
        provenance=str(prov),
        media=None if med is None else str(med),
        corrects=None if corr is None else as_int(corr),
        superseded_by=None if sup is None else as_int(sup),
        happened=(
            None
            if h_from is None or h_to is None
            else Happened(str(h_phrase), as_float(h_from), as_float(h_to))
        ),
        thread=None if thread is None else str(thread),
        seq=None if seq is None else as_int(seq),
    )


def json_ids(ids: Sequence[int]) -> str:
    """Ids as one JSON array, for `IN (SELECT value FROM json_each(?))` (any count)."""
    return "[" + ",".join(str(int(i)) for i in ids) + "]"


def get(db: apsw.Connection, memory_id: int) -> Memory:
    row = db.execute(f"SELECT {COLUMNS} FROM memories WHERE id = ?", (memory_id,)).fetchone()
    if row is None:
        raise UserError("memory-unknown-id", f"no memory with id {memory_id}", Stage.MEMORY)
    return to_memory(row)


def get_many(db: apsw.Connection, ids: Sequence[int]) -> dict[int, Memory]:
    """The memories of those ids that exist, by id."""
    rows = db.execute(
        f"SELECT {COLUMNS} FROM memories WHERE id IN (SELECT value FROM json_each(?))",
        (json_ids(ids),),
    ).fetchall()
    return {as_int(r[0]): to_memory(r) for r in rows}


def media_referenced(db: apsw.Connection, rel: str) -> bool:
    """Whether any memory still uses this media file (files are shared by content)."""
    row = db.execute("SELECT 1 FROM memories WHERE media = ? LIMIT 1", (rel,)).fetchone()
    return row is not None
