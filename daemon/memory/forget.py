"""Forgetting: which memories a forget selects, and removing every trace of them.

The store calls these with its lock held.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import apsw

from secondself.core.bus import Bus
from secondself.core.errors import Stage, UserError
from secondself.core.events import MemoryForgotten
from secondself.memory import context, media, rows
from secondself.memory import db as dbm
from secondself.memory.db import as_int
from secondself.memory.filters import Params
from secondself.memory.index import GraphIndex
from secondself.memory.model import ForgetReport, Memory

log = logging.getLogger(__name__)

QUOTE_MIN_CHARS = 12  # shorter memories are not searched for inside conversation turns


def select(
    db: apsw.Connection,
    *,
    ids: Sequence[int],
    match: str | None,
    since: float | None,
    until: float | None,
    persona: str | None,
) -> list[Memory]:
    """The memories a forget with these criteria removes (see `MemoryStore.select_for_forget`)."""
    for memory_id in ids:
        rows.get(db, memory_id)  # UserError for an unknown id
    parts, params = _criteria(ids, match, since, until, persona)
    if not parts:
        raise UserError(
            "forget-nothing-selected",
            "say what to forget: an id, --match TEXT, --since/--until, --persona-all or --user-all",
            Stage.MEMORY,
        )
    found = db.execute(
        f"SELECT {rows.COLUMNS} FROM memories AS m WHERE {' AND '.join(parts)} ORDER BY m.id",
        params,
    ).fetchall()
    return [rows.to_memory(r) for r in found]


def _criteria(
    ids: Sequence[int],
    match: str | None,
    since: float | None,
    until: float | None,
    persona: str | None,
) -> tuple[list[str], Params]:
    """SQL conditions on `memories AS m` (combined with AND) and their parameters."""
    parts: list[str] = []
    params: Params = []
    if ids:
        parts.append("m.id IN (SELECT value FROM json_each(?))")
        params.append(rows.json_ids(ids))
    if match is not None:
        if not match.strip():
            raise UserError("forget-empty-match", "the text to match is empty", Stage.MEMORY)
        parts.append("instr(lower(m.text), lower(?)) > 0")
        params.append(match.strip())
    if since is not None:
        parts.append("m.created >= ?")
        params.append(since)
    if until is not None:
        parts.append("m.created < ?")
        params.append(until)
    if persona is not None:
        parts.append("m.persona = ?")
        params.append(persona)
    return parts, params


def forget(
    db: apsw.Connection,
    index: GraphIndex,
    user_dir: Path,
    bus: Bus | None,
    memories: Sequence[Memory],
) -> ForgetReport:
    """Remove these memories and every trace of them (see `MemoryStore.forget`)."""
    ids = [m.id for m in memories]
    turns = _quoting_turns(db, memories)
    doomed = sorted(set(ids) | set(turns))
    gone = rows.get_many(db, doomed)
    with db:
        # A forgotten update makes the fact it replaced current again.
        db.execute(
            "UPDATE memories SET valid_to = NULL, superseded_by = NULL "
            "WHERE superseded_by IN (SELECT value FROM json_each(?1)) "
            "AND id NOT IN (SELECT value FROM json_each(?1))",
            (rows.json_ids(doomed),),
        )
        # The turns around a forgotten one hold its words in their contexts: dropped (the
        # store builds them again without it), as the forgotten ones' own go with them.
        context.drop(db, context.neighbours(db, doomed))
        db.execute(
            "DELETE FROM memories WHERE id IN (SELECT value FROM json_each(?))",
            (rows.json_ids(doomed),),
        )
        # Merge every FTS segment: with secure-delete on, no forgotten term survives.
        db.execute("INSERT INTO memories_fts (memories_fts) VALUES ('optimize')")
        db.execute(f"INSERT INTO {context.TEXT_TABLE} ({context.TEXT_TABLE}) VALUES ('optimize')")
    index.purge()
    removed_media = []
    for rel in sorted({m.media for m in gone.values() if m.media}):
        if not rows.media_referenced(db, rel) and media.remove(user_dir, rel):
            removed_media.append(rel)
    compact(db, user_dir)
    if bus is not None and doomed:
        bus.publish(MemoryForgotten(memory_ids=tuple(doomed)))
    return ForgetReport(
        ids=tuple(doomed),
        texts=tuple(gone[i].text for i in doomed if i in gone),
        media_removed=tuple(removed_media),
        turns_removed=tuple(t for t in turns if t not in ids),
    )


def _quoting_turns(db: apsw.Connection, memories: Sequence[Memory]) -> list[int]:
    """Conversation turns that cite any of these memories or contain their text."""
    ids = [m.id for m in memories]
    found = {
        as_int(r[0])
        for r in db.execute(
            "SELECT turn_id FROM memory_sources WHERE memory_id IN "
            "(SELECT value FROM json_each(?))",
            (rows.json_ids(ids),),
        )
    }
    quotable = [m.text for m in memories if len(m.text) >= QUOTE_MIN_CHARS]
    for text in quotable[:500]:
        found.update(
            as_int(r[0])
            for r in db.execute(
                "SELECT id FROM memories WHERE kind = 'conversation_turn' "
                "AND instr(lower(text), lower(?)) > 0",
                (text,),
            )
        )
    return sorted(found - set(ids))


def compact(db: apsw.Connection, user_dir: Path) -> None:
    """VACUUM, then checkpoint and truncate the WAL: no freed page keeps old bytes."""
    db.execute("VACUUM")
    for _ in range(50):
        if dbm.checkpoint_truncate(db):
            return
        time.sleep(0.1)  # another connection is reading; let it finish
    log.warning("the WAL of %s could not be truncated: a reader kept it open", user_dir)


def forget_user(user_dir: Path) -> list[str]:
    """Delete a whole user: their database, WAL, graph, media. Returns what was removed."""
    if not user_dir.exists():
        raise UserError("forget-no-user", f"no memories at {user_dir}", Stage.MEMORY)
    removed = sorted(str(p.relative_to(user_dir)) for p in user_dir.rglob("*") if p.is_file())
    shutil.rmtree(user_dir)
    return removed
