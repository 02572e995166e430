"""Ranking: reciprocal rank fusion of the candidate lists, then mild adjustments.

RRF (Cormack et al. 2009) needs no score calibration between cosine and BM25, which
differ in scale per query. The lists: the memory's own vector and words, and for turns
of a conversation their window's vector and words (`context.py`). On top of it: a soft
preference for the turns of the one person a question names (soft: questions also name
the wrong person on purpose, and notes about a person are not said by them), a mild
recency term (a memory from today gets at most +10%, halving every
RECENCY_HALF_LIFE_DAYS), and corrections outrank what they correct (a boost, then a
guarantee that a correction sorts above its target).
"""

from __future__ import annotations

from dataclasses import dataclass

RRF_K = 60.0
SPEAKER_BOOST = 0.30  # x1.3 for the named person's turns: LoCoMo development, 0.73 -> 0.78 @10
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
    window_vector_rank: int | None = None  # turns of a conversation only
    window_bm25_rank: int | None = None
    similarity: float = 0.0
    created: float = 0.0
    is_correction: bool = False
    corrects: int | None = None
    by_named_speaker: bool = False  # said by the one person the question names
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
        score += rrf(c.window_vector_rank) + rrf(c.window_bm25_rank)
        if c.by_named_speaker:
            score *= 1.0 + SPEAKER_BOOST
        score *= 1.0 + RECENCY_WEIGHT * recency(now - c.created)
        if c.is_correction:
            score *= CORRECTION_BOOST
        c.fused = score
    return ordered(candidates)


def ordered(candidates: list[Candidate]) -> list[Candidate]:
    """By `fused`, best first, every correction above the memory it corrects."""
    by_id = {c.id: c for c in candidates}
    for c in candidates:
        target = by_id.get(c.corrects) if c.corrects is not None else None
        if target is not None and c.fused <= target.fused:
            c.fused = target.fused * 1.01
    return sorted(candidates, key=lambda c: (-c.fused, -c.similarity, -c.created))
