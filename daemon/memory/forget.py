"""Forgetting: which memories a forget selects, and removing every trace of them.

A forget asked for by a persona touches only what that persona may see, and says only
that. A forgotten memory is gone for every persona, and so is its text in the conversation
turns that quote it: the asking persona's own turns, and another persona's private turns
that cite it or could have quoted it (it was visible to that persona and older than the
turn). Those are removed too but never counted or named to the asking persona, so neither
a reply's count nor a made-up text tells it anything about another persona's turns.

Each forget bumps a counter in `meta` in its transaction, so other processes holding
what they read before (a daemon's conversation history) notice it cheaply.

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
from secondself.memory.dbfile import writers_held_off
from secondself.memory.filters import Params
from secondself.memory.index import GraphIndex
from secondself.memory.model import ForgetReport, Memory

log = logging.getLogger(__name__)

QUOTE_MIN_CHARS = 12  # shorter memories are not searched for inside conversation turns
FORGETS_KEY = "forgets"  # meta: how many forgets the database has seen


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
    asker: str | None,
) -> ForgetReport:
    """Remove these memories and every trace of them (see `MemoryStore.forget`); the
    report names only what `asker` may see (everything when None: the user's own view)."""
    ids = [m.id for m in memories]
    turns = _quoting_turns(db, memories, asker)
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
        dbm.set_meta(db, FORGETS_KEY, str(forget_count(db) + 1))
        db.execute(f"INSERT INTO {context.TEXT_TABLE} ({context.TEXT_TABLE}) VALUES ('optimize')")
    index.purge()
    removed_media = []
    for rel in sorted({m.media for m in gone.values() if m.media}):
        if not rows.media_referenced(db, rel) and media.remove(user_dir, rel):
            removed_media.append(rel)
    compact(db, user_dir)
    shown = [i for i in doomed if i in gone and (asker is None or gone[i].visible_to(asker))]
    if bus is not None and shown:
        bus.publish(MemoryForgotten(memory_ids=tuple(shown)))
    return ForgetReport(
        ids=tuple(shown),
        texts=tuple(gone[i].text for i in shown),
        media_removed=tuple(removed_media),
        turns_removed=tuple(t for t in shown if t not in ids),
    )


def forget_count(db: apsw.Connection) -> int:
    """How many forgets this database has seen (by any process)."""
    return int(dbm.get_meta(db, FORGETS_KEY) or 0)


def _quoting_turns(db: apsw.Connection, memories: Sequence[Memory], asker: str | None) -> list[int]:
    """Conversation turns that cite any of these memories, or contain their text and may
    hold it from them (see `_may_quote`)."""
    ids = [m.id for m in memories]
    found = {
        as_int(r[0])
        for r in db.execute(
            "SELECT turn_id FROM memory_sources WHERE memory_id IN "
            "(SELECT value FROM json_each(?))",
            (rows.json_ids(ids),),
        )
    }
    quotable = [m for m in memories if len(m.text) >= QUOTE_MIN_CHARS]
    for memory in quotable[:500]:
        containing = db.execute(
            f"SELECT {rows.COLUMNS} FROM memories WHERE kind = 'conversation_turn' "
            "AND instr(lower(text), lower(?)) > 0",
            (memory.text,),
        ).fetchall()
        for turn in map(rows.to_memory, containing):
            if _may_quote(turn, memory, asker):
                found.add(turn.id)
    return sorted(found - set(ids))


def _may_quote(turn: Memory, memory: Memory, asker: str | None) -> bool:
    """Whether a turn containing a memory's text goes with it: the asking persona's own
    turns (those it may see) always; another persona's only if that persona could have
    quoted the memory. Else a persona could delete another's private turns by forgetting
    a memory it made up with their text. "Before the turn" is by row id, the order they
    were saved in: `created` is whatever an import says (a backdated memory)."""
    if asker is None or turn.visible_to(asker):
        return True
    return memory.visible_to(turn.persona) and memory.id < turn.id


def compact(db: apsw.Connection, user_dir: Path) -> None:
    """VACUUM, then checkpoint and truncate the WAL: no freed page keeps old bytes."""
    db.execute("VACUUM")
    for _ in range(50):
        if dbm.checkpoint_truncate(db):
            return
        time.sleep(0.1)  # another connection is reading; let it finish
    log.warning("the WAL of %s could not be truncated: a reader kept it open", user_dir)


def forget_user(user_dir: Path) -> list[str]:
    """Delete a whole user: their database, WAL, graph, media. Returns what was removed.

    A process that has the database open (the daemon) finds it gone on its next use
    (`DbFile`): a write of its in progress finishes first, none lands after.
    """
    if not user_dir.exists():
        raise UserError("forget-no-user", f"no memories at {user_dir}", Stage.MEMORY)
    with writers_held_off(user_dir / dbm.DB_FILE):
        removed = sorted(str(p.relative_to(user_dir)) for p in user_dir.rglob("*") if p.is_file())
        shutil.rmtree(user_dir)
    return removed
