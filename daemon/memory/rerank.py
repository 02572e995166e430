"""The second stage: the best fused candidates re-scored by the conversation around them.

The fused lists find most evidence within 30 candidates but order it loosely: a turn that
answers a question is often one line of a stretch of conversation about the subject, in
words the turn itself never uses. So each of the top POOL candidates is scored again by
a linear sum of its share of the best fused score, whether the one person the question
names said it, and its share of the best BM25 of the question's other words over the
turns around it (`neighbourhood.py`). The weights were fitted by logistic regression on LoCoMo
development conversations (conv-44 and conv-47) and checked on one kept apart (conv-48);
see docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import apsw

from secondself.memory import fts, neighbourhood
from secondself.memory.filters import Params
from secondself.memory.fusion import Candidate, ordered

POOL = 30  # candidates re-scored: the fused lists find 0.92 of LoCoMo's evidence in 30
WEIGHT_FUSED = 1.0
WEIGHT_SPEAKER = 0.22
WEIGHT_CONTEXT = 0.52


def rerank(
    db: apsw.Connection,
    candidates: list[Candidate],
    words: Sequence[str],
    where: str,
    params: Params,
    depth: int,
    total: int,
) -> list[Candidate]:
    """Candidates (ordered by fused score) re-scored over the first `depth` (at least
    POOL) and ordered again; `total`: the memories in the store (for BM25's IDF)."""
    if not candidates:
        return candidates
    pool = candidates[: max(POOL, depth)]
    around = neighbourhood.scores(db, [c.id for c in pool], words, where, params, total)
    best_fused = pool[0].fused or 1.0
    best_around = max(around.values(), default=0.0) or 1.0
    for c in candidates:  # beyond the pool, the fused share alone: they stay below it
        c.fused = WEIGHT_FUSED * c.fused / best_fused
    for c in pool:
        c.fused += WEIGHT_SPEAKER * c.by_named_speaker
        c.fused += WEIGHT_CONTEXT * around.get(c.id, 0.0) / best_around
    return ordered(candidates)


def query_words(query: str) -> list[str]:
    """The question's words the second stage weighs: every word but stop words, once."""
    found: list[str] = []
    for w in fts.words(query):
        if w not in fts.STOPWORDS and w not in found:
            found.append(w)
    return found[: fts.MAX_TERMS]
