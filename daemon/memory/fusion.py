"""Ranking: reciprocal rank fusion of the vector and BM25 lists, then mild adjustments.

RRF (Cormack et al. 2009) needs no score calibration between cosine and BM25, which
differ in scale per query. On top of it: a mild recency term (a memory from today gets
at most +10%, halving every RECENCY_HALF_LIFE_DAYS), and corrections outrank what they
correct (a boost, then a guarantee that a correction sorts above its target).
"""

from __future__ import annotations

from dataclasses import dataclass

RRF_K = 60.0
RECENCY_WEIGHT = 0.10
RECENCY_HALF_LIFE_DAYS = 180.0
CORRECTION_BOOST = 1.25
DAY = 86400.0


@dataclass(slots=True)
class Candidate:
    id: int
    vector_rank: int | None = None
    bm25_rank: int | None = None
    bm25: float | None = None
    similarity: float = 0.0
    created: float = 0.0
    is_correction: bool = False
    corrects: int | None = None
    fused: float = 0.0


def rrf(rank: int | None) -> float:
    return 0.0 if rank is None else 1.0 / (RRF_K + rank)


def recency(age_s: float) -> float:
    """1.0 for a memory saved now, 0.5 after one half-life, towards 0 for old ones."""
    return float(0.5 ** (max(age_s, 0.0) / (RECENCY_HALF_LIFE_DAYS * DAY)))


def rank(candidates: list[Candidate], now: float) -> list[Candidate]:
    """Score and order candidates, best first (ties broken by similarity, then newest)."""
    for c in candidates:
        score = rrf(c.vector_rank) + rrf(c.bm25_rank)
        score *= 1.0 + RECENCY_WEIGHT * recency(now - c.created)
        if c.is_correction:
            score *= CORRECTION_BOOST
        c.fused = score
    by_id = {c.id: c for c in candidates}
    for c in candidates:  # a correction always sorts above the memory it corrects
        target = by_id.get(c.corrects) if c.corrects is not None else None
        if target is not None and c.fused <= target.fused:
            c.fused = target.fused * 1.01
    return sorted(candidates, key=lambda c: (-c.fused, -c.similarity, -c.created))
