"""Stored conversation turns with their sources and personal score (blocking: run in threads).

A turn is kept as a `conversation_turn` memory ("Q: ...\\nA: ...") linked to the memories
the answer drew on; the score is not stored. It is computed again here with the turn's own
function (`personal_score`) over the same sources, their similarity to the question taken
from the same embedder, so the page shows what the device said when it answered.

Only the sources the persona may see now are shown and scored: a persona sees its own
memories and the shared ones (`Memory.visible_to`), and a source made private to another
persona since the turn does not exist for it, not even as an id in the score's parts.
Visibility is read from the store with every page, never from the cache: the cache is keyed
by the very memories a view was made from, so a changed one makes a new view. Once anything
of the user was forgotten (anywhere: the store's forget epoch moved), their cached views
are dropped: none keeps forgotten text in memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from secondself.answer.prompt import Source
from secondself.answer.score import personal_score
from secondself.core.protocols import Embedder
from secondself.memory.model import Kind, Memory, SearchFilter
from secondself.memory.spoken_dates import natural_date
from secondself.memory.store import MemoryStore

CACHE_SIZE = 512  # scored turns kept (each costs two small embeddings to score again)
CacheKey = tuple[str, Memory, tuple[Memory, ...]]  # user, turn, the sources it is shown with


class TurnScores:
    """Turn views by content: the turn and the sources shown, as read for this page."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self._cache: OrderedDict[CacheKey, dict[str, Any]] = OrderedDict()
        self._epochs: dict[str, object] = {}  # user -> the forget epoch their views were made in
        self._lock = threading.Lock()

    def page(
        self, user: str, store: MemoryStore, persona: str, limit: int, offset: int, threshold: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        """The persona's turns, newest first, and the offset of the next page (or None)."""
        self._drop_forgotten(user, store.forget_epoch())
        where = SearchFilter(persona=persona, kinds=(Kind.CONVERSATION_TURN,))
        turns = store.recent(where, offset + limit + 1)[offset:]
        quotes = store.quotes()
        shown = turns[:limit]
        wanted = sorted({i for turn in shown for i in quotes.get(turn.id, [])})
        found = store.get_many(wanted)  # read now: a source's visibility may have changed
        views = []
        for turn in shown:
            used = [found[i] for i in quotes.get(turn.id, []) if i in found]
            seen = [m for m in used if m.visible_to(persona)]
            views.append(self.view(user, turn, seen, threshold))
        return views, (offset + limit if len(turns) > limit else None)

    def view(
        self, user: str, turn: Memory, sources: Sequence[Memory], threshold: int
    ) -> dict[str, Any]:
        """The turn scored over `sources` (those the persona may see)."""
        key = (user, turn, tuple(sources))
        with self._lock:
            data = self._cache.get(key)
            if data is not None:
                self._cache.move_to_end(key)
        if data is None:
            data = score_turn(turn, sources, self._embedder)
            with self._lock:
                self._cache[key] = data
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        return {**data, "below_threshold": data["score"] < threshold}

    def _drop_forgotten(self, user: str, epoch: object) -> None:
        with self._lock:
            if self._epochs.get(user, epoch) != epoch:
                for key in [k for k in self._cache if k[0] == user]:
                    del self._cache[key]
            self._epochs[user] = epoch


def score_turn(turn: Memory, used: Sequence[Memory], embedder: Embedder) -> dict[str, Any]:
    question, _, answer = turn.text.removeprefix("Q: ").partition("\nA: ")
    sources: list[Source] = []
    if used:
        rows = np.asarray(embedder.embed([question, *(m.text for m in used)]), dtype=np.float32)
        similarity = rows[1:] @ rows[0]
        sources = [
            Source(
                memory_id=m.id,
                text=m.text,
                when=natural_date(m.created),
                similarity=float(s),
                happened=m.happened,
            )
            for m, s in zip(used, similarity, strict=True)
        ]
    parts = personal_score(answer, sources, embedder)
    return {
        "id": turn.id,
        "created": turn.created,
        "persona": turn.persona,
        "question": question,
        "answer": answer,
        "score": parts.score,
        "score_parts": parts.to_dict(),
        "sources": [
            {"id": s.memory_id, "text": s.text, "similarity": round(s.similarity, 3)}
            for s in sources
        ],
    }
