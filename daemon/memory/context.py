"""Conversation context: each turn of a thread indexed with the turns around it.

A turn alone ("Me too! It was so much fun.") often lacks the words of what it is about;
its neighbours have them. So beside every memory with a `thread`, derived from it and its
neighbours (same thread, persona and visibility, ordered by `seq`): its speaker, the vector
of a short window of turns (names cut, see `speakers.py`) and the words of a wider one in
a stemmed full-text index. They are rebuilt whenever a turn in reach changes, dropped with
any neighbour that is forgotten (so no forgotten word stays in them) and rebuilt when the
store next can embed; `missing` finds those still to build.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import apsw

from secondself.memory import fts, rows, vectors
from secondself.memory.db import as_int
from secondself.memory.filters import Params
from secondself.memory.speakers import split_speaker

# Turns each side of a turn in its window. Measured on LoCoMo development conversations
# (evidence recall@10 of the fused lists): the vector of 1 each side beats 2; the words of
# 2 each side beat 1 (0.80 against 0.79). Every window stays inside its thread.
VECTOR_REACH = 1
TEXT_REACH = 2
REFRESH_BATCH = 256  # turns whose windows are embedded and written together
VECTORS_TABLE = "memory_context"
TEXT_TABLE = "context_fts"

Embed = Callable[[Sequence[str]], vectors.Matrix]


def vector_text(text: str, thread: str | None) -> str:
    """What a memory's own vector is made of: a turn's words without its speaker's name."""
    return split_speaker(text)[1] if thread is not None else text


@dataclass(frozen=True, slots=True)
class _Turn:
    id: int
    speaker: str
    words: str  # what was said, without the speaker's name


def missing(db: apsw.Connection) -> list[int]:
    """Memories of a thread that have no context yet."""
    return [
        as_int(r[0])
        for r in db.execute(
            "SELECT id FROM memories WHERE thread IS NOT NULL "
            "AND id NOT IN (SELECT memory_id FROM memory_context) ORDER BY id"
        )
    ]


def neighbours(db: apsw.Connection, ids: Sequence[int], reach: int = TEXT_REACH) -> list[int]:
    """The turns within `reach` of these memories in their threads (themselves excluded)."""
    found: set[int] = set()
    for group, seqs in _groups(db, ids).items():
        turns = _span(db, group, min(seqs), max(seqs), reach)
        at = [n for n, (_, seq) in enumerate(turns) if seq in seqs]
        for n in at:
            found.update(i for i, _ in turns[max(0, n - reach) : n + reach + 1])
    return sorted(found - set(ids))


def drop(db: apsw.Connection, ids: Sequence[int]) -> None:
    """Remove these memories' contexts (their words leave the index with them)."""
    db.execute(
        "DELETE FROM memory_context WHERE memory_id IN (SELECT value FROM json_each(?))",
        (rows.json_ids(ids),),
    )


def clear(db: apsw.Connection) -> None:
    """Remove every context (the embedding model changed: rebuilt with the new one)."""
    db.execute("DELETE FROM memory_context")  # their words go with them (a trigger)


def refresh(db: apsw.Connection, ids: Sequence[int], embed: Embed) -> int:
    """Build the contexts of these memories and of the turns whose windows they are in,
    REFRESH_BATCH at a time (each embedded outside any transaction, then written in one).
    Returns how many were built."""
    ordered = sorted(set(ids))
    return sum(
        _refresh(db, ordered[at : at + REFRESH_BATCH], embed)
        for at in range(0, len(ordered), REFRESH_BATCH)
    )


def _refresh(db: apsw.Connection, ids: Sequence[int], embed: Embed) -> int:
    todo = sorted(set(ids) | set(neighbours(db, ids)))
    windows: dict[int, tuple[str, str, str]] = {}  # id -> speaker, vector text, words
    for group, seqs in _groups(db, todo).items():
        reach = max(VECTOR_REACH, TEXT_REACH)
        span = _span(db, group, min(seqs), max(seqs), reach)
        turns = _turns(db, [i for i, _ in span])
        for n, (memory_id, seq) in enumerate(span):
            if seq in seqs and memory_id in turns:
                windows[memory_id] = (
                    turns[memory_id].speaker,
                    _window(turns, span, n, VECTOR_REACH),
                    _window(turns, span, n, TEXT_REACH),
                )
    if not windows:
        return 0
    built = list(windows)
    matrix = embed([windows[i][1] for i in built])
    with db:
        for memory_id, vector in zip(built, matrix, strict=True):
            speaker, _, words = windows[memory_id]
            db.execute(
                "INSERT INTO memory_context (memory_id, speaker, embedding) VALUES (?, ?, ?) "
                "ON CONFLICT (memory_id) DO UPDATE SET speaker = excluded.speaker, "
                "embedding = excluded.embedding",
                (memory_id, speaker, vectors.to_blob(vector)),
            )
            db.execute(f"DELETE FROM {TEXT_TABLE} WHERE rowid = ?", (memory_id,))
            db.execute(
                f"INSERT INTO {TEXT_TABLE} (rowid, window) VALUES (?, ?)", (memory_id, words)
            )
    return len(built)


# --- searching ---------------------------------------------------------------------------


def nearest(
    db: apsw.Connection, q: vectors.Matrix, k: int, where: str, params: Params
) -> list[tuple[int, float]]:
    """Top-k (id, similarity) by window vector among memories passing `where` (exact)."""
    return vectors.exact_search(db, q, k, where, params, table=VECTORS_TABLE)


def search(
    db: apsw.Connection, terms: list[str], k: int, where: str, params: Params
) -> list[tuple[int, float]]:
    """Top-k (id, bm25) by the words of the window, stemmed (lower bm25 is better)."""
    return fts.search(db, terms, k, where, params, table=TEXT_TABLE)


def speakers_of(db: apsw.Connection, ids: Sequence[int]) -> dict[int, str]:
    """The speaker of each of these memories that has a context and names one."""
    return {
        as_int(i): str(s)
        for i, s in db.execute(
            "SELECT memory_id, speaker FROM memory_context WHERE speaker != '' "
            "AND memory_id IN (SELECT value FROM json_each(?))",
            (rows.json_ids(ids),),
        )
    }


def known_speakers(db: apsw.Connection) -> list[str]:
    """Every speaker named in a turn of this store, longest name first."""
    found = [
        str(r[0])
        for r in db.execute("SELECT DISTINCT speaker FROM memory_context WHERE speaker != ''")
    ]
    return sorted(found, key=lambda s: (-len(s), s))


# --- inside ------------------------------------------------------------------------------

_Group = tuple[str, str, str]  # thread, persona, visibility: turns that see each other


def _groups(db: apsw.Connection, ids: Sequence[int]) -> dict[_Group, set[int]]:
    """The threads (split by persona and visibility) of these memories, and their seqs."""
    found: dict[_Group, set[int]] = {}
    for thread, persona, visibility, seq in db.execute(
        "SELECT thread, persona, visibility, seq FROM memories "
        "WHERE thread IS NOT NULL AND id IN (SELECT value FROM json_each(?))",
        (rows.json_ids(ids),),
    ):
        found.setdefault((str(thread), str(persona), str(visibility)), set()).add(as_int(seq))
    return found


def _span(
    db: apsw.Connection, group: _Group, low: int, high: int, reach: int
) -> list[tuple[int, int]]:
    """(id, seq) of a group's turns from `reach` turns before `low` to `reach` after `high`."""
    same = "thread = ? AND persona = ? AND visibility = ?"
    before = db.execute(
        f"SELECT min(seq) FROM (SELECT seq FROM memories WHERE {same} AND seq < ? "
        "ORDER BY seq DESC LIMIT ?)",
        (*group, low, reach),
    ).fetchone()
    after = db.execute(
        f"SELECT max(seq) FROM (SELECT seq FROM memories WHERE {same} AND seq > ? "
        "ORDER BY seq LIMIT ?)",
        (*group, high, reach),
    ).fetchone()
    first = low if before is None or before[0] is None else as_int(before[0])
    last = high if after is None or after[0] is None else as_int(after[0])
    return [
        (as_int(i), as_int(s))
        for i, s in db.execute(
            f"SELECT id, seq FROM memories WHERE {same} AND seq BETWEEN ? AND ? ORDER BY seq, id",
            (*group, first, last),
        )
    ]


def _turns(db: apsw.Connection, ids: Sequence[int]) -> dict[int, _Turn]:
    found: dict[int, _Turn] = {}
    for i, text in db.execute(
        "SELECT id, text FROM memories WHERE id IN (SELECT value FROM json_each(?))",
        (rows.json_ids(ids),),
    ):
        speaker, words = split_speaker(str(text))
        found[as_int(i)] = _Turn(as_int(i), speaker, words)
    return found


def _window(turns: dict[int, _Turn], span: list[tuple[int, int]], at: int, reach: int) -> str:
    """The words of the turns from `reach` before position `at` to `reach` after it."""
    chosen = span[max(0, at - reach) : at + reach + 1]
    return "\n".join(turns[i].words for i, _ in chosen if i in turns)
