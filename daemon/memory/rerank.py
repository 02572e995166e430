"""The second stage: the best fused candidates re-scored by the conversation around them.

The fused lists find most evidence within 30 candidates but order it loosely: a turn that
answers a question is often one line of a stretch of conversation about the subject, in
words the turn itself never uses. So each of the top POOL candidates is scored again by
a linear sum of its share of the best fused score, whether the one person the question
names said it, and the BM25 of the question's words (stemmed) over the turns around it
(NEIGHBOURHOOD each side in its thread, as the search's filter lets it see them; a memory
outside any thread is its own neighbourhood). The weights were fitted by logistic
regression on LoCoMo development conversations (conv-44 and conv-47) and checked on one
kept apart; see docs/benchmarks.md.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import apsw

from secondself.memory import fts, rows
from secondself.memory.db import as_int
from secondself.memory.filters import Params
from secondself.memory.fusion import Candidate, ordered
from secondself.memory.speakers import split_speaker

POOL = 30  # candidates re-scored; the fused lists' recall@30 is 0.92 on LoCoMo development
NEIGHBOURHOOD = 12  # turns each side whose words count for a turn
WEIGHT_FUSED = 1.0
WEIGHT_SPEAKER = 0.22
WEIGHT_CONTEXT = 0.58
BM25_K1 = 1.2
BM25_B = 0.75
_STEMMER = ("porter", ["unicode61", "remove_diacritics", "2"])  # as context_fts's tokenizer
_PLAIN = {"include_offsets": False, "include_colocated": False}  # tokens alone, as strings


def rerank(
    db: apsw.Connection,
    candidates: list[Candidate],
    terms: Sequence[str],
    where: str,
    params: Params,
    depth: int,
    total: int,
) -> list[Candidate]:
    """Candidates ordered by fused score, re-scored and re-ordered over the first `depth`
    (at least POOL); `total`: the memories in the store (for BM25's IDF)."""
    if not candidates:
        return candidates
    pool = candidates[: max(POOL, depth)]
    words = context_scores(db, [c.id for c in pool], terms, where, params, total)
    best_fused = pool[0].fused or 1.0
    best_words = max(words.values(), default=0.0) or 1.0
    for c in candidates:
        c.fused = WEIGHT_FUSED * c.fused / best_fused
    for c in pool:
        c.fused += WEIGHT_SPEAKER * c.by_named_speaker
        c.fused += WEIGHT_CONTEXT * words.get(c.id, 0.0) / best_words
    return ordered(candidates)


def context_scores(
    db: apsw.Connection,
    ids: Sequence[int],
    terms: Sequence[str],
    where: str,
    params: Params,
    total: int,
) -> dict[int, float]:
    """BM25 of `terms` over each memory's neighbourhood (0 where none of them occurs)."""
    if not terms:
        return {}
    weights = _idf(db, terms, _stems(db, terms), total)
    docs = {i: Counter(tokens) for i, tokens in _neighbourhoods(db, ids, where, params).items()}
    if not docs:
        return {}
    mean_length = sum(d.total() for d in docs.values()) / len(docs) or 1.0
    scores: dict[int, float] = {}
    for memory_id, tf in docs.items():
        norm = BM25_K1 * (1 - BM25_B + BM25_B * tf.total() / mean_length)
        scores[memory_id] = sum(
            idf * tf[stem] * (BM25_K1 + 1) / (tf[stem] + norm)
            for stem, idf in weights.items()
            if tf[stem]
        )
    return scores


def _stems(db: apsw.Connection, terms: Sequence[str]) -> dict[str, str]:
    tokenize = db.fts5_tokenizer(*_STEMMER)
    found: dict[str, str] = {}
    for t in terms:
        stemmed = [str(s) for s in tokenize(t.encode(), apsw.FTS5_TOKENIZE_QUERY, None, **_PLAIN)]
        if stemmed:
            found[t] = stemmed[0]
    return found


def _idf(
    db: apsw.Connection, terms: Sequence[str], stems: dict[str, str], total: int
) -> dict[str, float]:
    """Each stem's weight: BM25's IDF of its word among the memories (a stem's best word)."""
    sql = f"SELECT term, doc FROM memories_terms WHERE term IN ({', '.join('?' * len(terms))})"
    freq = {str(t): as_int(d) for t, d in db.execute(sql, list(terms))}
    weights: dict[str, float] = {}
    for word, stem in stems.items():
        n = freq.get(word, 0)
        idf = math.log(1 + (total - n + 0.5) / (n + 0.5))
        weights[stem] = max(weights.get(stem, 0.0), idf)
    return weights


def _neighbourhoods(
    db: apsw.Connection, ids: Sequence[int], where: str, params: Params
) -> dict[int, list[str]]:
    """Each memory's stemmed words with those of the turns around it that `where` allows."""
    tokenize = db.fts5_tokenizer(*_STEMMER)
    cache: dict[int, list[str]] = {}

    def words(memory_id: int, text: str) -> list[str]:
        if memory_id not in cache:
            said = split_speaker(text)[1].encode()
            found = tokenize(said, apsw.FTS5_TOKENIZE_DOCUMENT, None, **_PLAIN)
            cache[memory_id] = [str(t) for t in found]
        return cache[memory_id]

    result: dict[int, list[str]] = {}
    for i, text, thread, persona, visibility, seq in db.execute(
        "SELECT id, text, thread, persona, visibility, seq FROM memories "
        "WHERE id IN (SELECT value FROM json_each(?))",
        (rows.json_ids(ids),),
    ):
        memory_id = as_int(i)
        if thread is None or seq is None:
            result[memory_id] = words(memory_id, str(text))
            continue
        first, last = as_int(seq) - NEIGHBOURHOOD, as_int(seq) + NEIGHBOURHOOD
        around = db.execute(
            "SELECT m.id, m.text FROM memories AS m WHERE m.thread = ? AND m.persona = ? "
            f"AND m.visibility = ? AND m.seq BETWEEN ? AND ? AND {where}",
            [thread, persona, visibility, first, last, *params],
        )
        result[memory_id] = [w for j, t in around for w in words(as_int(j), str(t))]
        if not result[memory_id]:  # the filter hides its neighbours (and itself): its words
            result[memory_id] = words(memory_id, str(text))
    return result


def query_words(query: str) -> list[str]:
    """The question's words the second stage weighs: every word but stop words, once."""
    found: list[str] = []
    for w in fts.words(query):
        if w not in fts.STOPWORDS and w not in found:
            found.append(w)
    return found[: fts.MAX_TERMS]
