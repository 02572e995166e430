"""Hybrid search: k-NN and BM25 candidates under one SQL filter, fused into ranked results."""

from __future__ import annotations

import apsw

from secondself.memory import fts, fusion, rows, vectors
from secondself.memory.db import as_float, as_int
from secondself.memory.filters import condition
from secondself.memory.index import GraphIndex
from secondself.memory.model import Kind, Scores, SearchFilter, SearchResult


def search(
    db: apsw.Connection,
    index: GraphIndex,
    query: str,
    q: vectors.Matrix,
    where: SearchFilter,
    now: float,
    limit: int,
) -> list[SearchResult]:
    """The best `limit` memories passing `where` for `query` (embedded as `q`)."""
    cond, params = condition(where, now)
    depth = max(2 * limit, 20)  # each list's depth; RRF barely moves below it
    by_vector = index.nearest(q, depth, cond, params)
    terms = fts.query_terms(db, query, index.vector_count())
    by_text = fts.search(db, terms, depth, cond, params)
    ranked = fusion.rank(_candidates(db, q, by_vector, by_text), now)[:limit]
    return _results(db, ranked)


def _candidates(
    db: apsw.Connection,
    q: vectors.Matrix,
    by_vector: list[tuple[int, float]],
    by_text: list[tuple[int, float]],
) -> list[fusion.Candidate]:
    """Both lists' hits as one candidate each, with what `fusion.rank` weighs."""
    cands: dict[int, fusion.Candidate] = {}
    for n, (i, sim) in enumerate(by_vector, 1):
        cands[i] = fusion.Candidate(id=i, vector_rank=n, similarity=sim)
    for n, (i, score) in enumerate(by_text, 1):
        c = cands.setdefault(i, fusion.Candidate(id=i))
        c.bm25_rank, c.bm25 = n, score
    missing = [i for i, c in cands.items() if c.vector_rank is None]
    if missing:  # text-only hits: give them their exact similarity too
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
