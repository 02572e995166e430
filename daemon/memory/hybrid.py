"""Hybrid search: k-NN and BM25 candidates under one SQL filter, fused, then re-ranked.

Four lists: the memories' own vectors and words, and for turns of a conversation the
vectors and words of their windows (`context.py`). Names of people who speak in the
store's conversations are cut from the query's vector (names dominate MiniLM's ranking);
the one person a question names instead lifts their turns a little (`fusion.py`). The
fused candidates' best are then re-scored by the conversation around them (`rerank.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import apsw
import numpy as np

from secondself.memory import context, fts, fusion, rerank, rows, speakers, vectors
from secondself.memory.db import as_float, as_int
from secondself.memory.filters import condition
from secondself.memory.index import GraphIndex
from secondself.memory.model import Kind, Scores, SearchFilter, SearchResult

Embed = Callable[[Sequence[str]], vectors.Matrix]


class Searcher:
    """The search of one store, under the store's lock on a file still on disk (`using`;
    released while the query is embedded, as a search's longest step should not hold up
    the store)."""

    def __init__(
        self,
        db: apsw.Connection,
        index: GraphIndex,
        embed: Embed,
        using: Callable[[], AbstractContextManager[None]],
    ) -> None:
        self._db = db
        self._index = index
        self._embed = embed
        self._using = using
        self._speakers: tuple[tuple[int, int], list[str]] = ((-1, -1), [])

    def search(
        self,
        query: str,
        where: SearchFilter,
        clock: Callable[[], float],
        limit: int,
        vector: vectors.Matrix | None = None,
    ) -> list[SearchResult]:
        """The best `limit` memories passing `where` for `query` (embedded as `vector`, if
        given: the vector of the query as searched, names and all)."""
        with self._using():
            names = speakers.named(query, self.known_speakers())
        if vector is not None:
            q = np.asarray(vector, dtype=np.float32)
        else:
            q = self._embed([speakers.without_names(query, names) or query])[0]
        with self._using():
            return search(self._db, self._index, query, q, where, clock(), limit, names)

    def known_speakers(self) -> list[str]:
        """The store's speakers, read again only when the database changed (lock held)."""
        row = self._db.execute("PRAGMA data_version").fetchone()
        version = (as_int(row[0]) if row else 0, self._db.total_changes())
        if self._speakers[0] != version:
            self._speakers = (version, context.known_speakers(self._db))
        return self._speakers[1]


def search(
    db: apsw.Connection,
    index: GraphIndex,
    query: str,
    q: vectors.Matrix,
    where: SearchFilter,
    now: float,
    limit: int,
    names: Sequence[str] = (),
) -> list[SearchResult]:
    """The best `limit` memories passing `where` for `query` (its vector `q`); `names`:
    the speakers it names (the turns of the one it names are preferred)."""
    cond, params = condition(where, now)
    depth = max(2 * limit, 2 * rerank.POOL)  # each list's depth; RRF barely moves below it
    terms = fts.query_terms(db, query, index.vector_count())
    lists = _Lists(
        by_vector=index.nearest(q, depth, cond, params),
        by_text=fts.search(db, terms, depth, cond, params),
        by_window=context.nearest(db, q, depth, cond, params),
        by_window_text=context.search(db, terms, depth, cond, params),
    )
    named = names[0] if len(names) == 1 else None
    fused = fusion.rank(_candidates(db, q, lists, named), now)
    words = rerank.query_words(speakers.without_names(query, names))  # names: by speaker
    ranked = rerank.rerank(db, fused, words, cond, params, limit, index.vector_count())
    return _results(db, ranked[:limit])


@dataclass(frozen=True, slots=True)
class _Lists:
    """Each list's (id, score) hits, best first."""

    by_vector: list[tuple[int, float]]
    by_text: list[tuple[int, float]]
    by_window: list[tuple[int, float]]
    by_window_text: list[tuple[int, float]]


def _candidates(
    db: apsw.Connection, q: vectors.Matrix, lists: _Lists, named: str | None
) -> list[fusion.Candidate]:
    """Every list's hits as one candidate each, with what `fusion.rank` weighs."""
    cands: dict[int, fusion.Candidate] = {}

    def candidate(memory_id: int) -> fusion.Candidate:
        return cands.setdefault(memory_id, fusion.Candidate(id=memory_id))

    for n, (i, sim) in enumerate(lists.by_vector, 1):
        cands[i] = fusion.Candidate(id=i, vector_rank=n, similarity=sim)
    for n, (i, score) in enumerate(lists.by_text, 1):
        c = candidate(i)
        c.bm25_rank, c.bm25 = n, score
    for n, (i, _) in enumerate(lists.by_window, 1):
        candidate(i).window_vector_rank = n
    for n, (i, _) in enumerate(lists.by_window_text, 1):
        candidate(i).window_bm25_rank = n
    missing = [i for i, c in cands.items() if c.vector_rank is None]
    if missing:  # hits of the other lists: give them their exact similarity too
        found, matrix = vectors.get(db, missing, len(q))
        for i, sim in zip(found, matrix @ q, strict=True):
            cands[i].similarity = float(sim)
    for i, created, kind, corrects in db.execute(
        "SELECT id, created, kind, corrects FROM memories "
        "WHERE id IN (SELECT value FROM json_each(?))",
        (rows.json_ids(list(cands)),),
    ):
        c = cands[as_int(i)]
        c.created, c.is_correction = as_float(created), kind == Kind.CORRECTION
        c.corrects = None if corrects is None else as_int(corrects)
    if named is not None:
        for i, speaker in context.speakers_of(db, list(cands)).items():
            cands[i].by_named_speaker = speaker == named
    return list(cands.values())


def _results(db: apsw.Connection, ranked: list[fusion.Candidate]) -> list[SearchResult]:
    memories = rows.get_many(db, [c.id for c in ranked])  # full rows only for the winners
    return [
        SearchResult(
            memory=memories[c.id],
            scores=Scores(
                similarity=c.similarity,
                vector_rank=c.vector_rank,
                bm25_rank=c.bm25_rank,
                bm25=c.bm25,
                fused=c.fused,
            ),
        )
        for c in ranked
    ]
