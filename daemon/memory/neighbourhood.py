"""BM25 of a question's words over the conversation around each candidate memory.

A turn's neighbourhood is the turns up to REACH places before and after it in its thread
(same persona and visibility, as far as the search's filter lets it see them), itself
included; a memory outside any thread is its own neighbourhood. Words are stemmed as the
window index stems them (FTS5's porter over unicode61), through that very tokenizer, so
"painted" counts for "painting". IDF comes from the memories' own word index.

Each turn is read and counted once per search even when many candidates share it: the
turns of a thread are loaded as the union of the candidates' reaches, counted per stem,
and each neighbourhood is a difference of running sums.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import apsw
import numpy as np
from numpy.typing import NDArray

from secondself.memory import rows
from secondself.memory.db import as_int
from secondself.memory.filters import Params
from secondself.memory.speakers import split_speaker

REACH = 24  # turns each side: LoCoMo development recall@10 rose with it up to about a sitting
BM25_K1 = 1.2
BM25_B = 0.75
_STEMMER = ("porter", ["unicode61", "remove_diacritics", "2"])  # as context_fts's tokenizer
_PLAIN = {"include_offsets": False, "include_colocated": False}  # tokens alone, as strings

_Group = tuple[object, object, object]  # thread, persona, visibility


def scores(
    db: apsw.Connection,
    ids: Sequence[int],
    words: Sequence[str],
    where: str,
    params: Params,
    total: int,
) -> dict[int, float]:
    """BM25 of `words` over each memory's neighbourhood; `total`: memories in the store."""
    tokenize = db.fts5_tokenizer(*_STEMMER)
    stems = _stems(tokenize, words)
    if not stems:
        return {}
    idf = _idf(db, stems, total)
    order = sorted(set(stems.values()))
    counts = _Counter(tokenize, order)
    lone: dict[int, str] = {}  # memories outside a thread: their own words
    threaded: dict[_Group, dict[int, int]] = {}  # group -> candidate id -> seq
    for i, text, thread, persona, visibility, seq in db.execute(
        "SELECT id, text, thread, persona, visibility, seq FROM memories "
        "WHERE id IN (SELECT value FROM json_each(?))",
        (rows.json_ids(ids),),
    ):
        if thread is None or seq is None:
            lone[as_int(i)] = str(text)
        else:
            threaded.setdefault((thread, persona, visibility), {})[as_int(i)] = as_int(seq)
    tf: dict[int, tuple[NDArray[np.float64], float]] = {}
    if lone:
        matrix, lengths = counts.of(list(lone.values()))
        for n, memory_id in enumerate(lone):
            tf[memory_id] = matrix[n], float(lengths[n])
    for group, seqs in threaded.items():  # every candidate passes `where`: it counts itself
        tf.update(_around(db, group, seqs, counts, where, params))
    return _bm25(tf, np.array([idf[s] for s in order]))


class _Counter:
    """Texts' counts of each wanted stem, and their lengths (in characters: BM25 only
    compares lengths, and counting characters needs no tokenizer)."""

    def __init__(self, tokenize: apsw.FTS5Tokenizer, stems: list[str]) -> None:
        self._tokenize = tokenize
        self._column = {s: n for n, s in enumerate(stems)}
        # A text without any stem's first letters has none of them: not tokenized at all.
        self._starts = {_start(s) for s in stems}
        self.width = len(stems)

    def of(self, texts: Sequence[str]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """One row of stem counts per text, and each text's length."""
        counts = np.zeros((len(texts), self.width))
        lengths = np.zeros(len(texts))
        for n, text in enumerate(texts):
            lengths[n] = len(text)
            lowered = text.lower()
            if not any(start in lowered for start in self._starts):
                continue
            said = split_speaker(text)[1].encode()
            tokens = self._tokenize(said, apsw.FTS5_TOKENIZE_DOCUMENT, None, **_PLAIN)
            for token in cast(list[str], tokens):
                if (column := self._column.get(token)) is not None:
                    counts[n, column] += 1
        return counts, lengths


def _start(stem: str) -> str:
    """Letters every word with this stem begins with. Porter only rewrites a word's end
    ("happy" -> "happi", "toy" -> "toi"), so all but the last letter of a short stem, and the
    first three of a longer one."""
    return stem[:3] if len(stem) > 3 else stem[:-1]


def _around(
    db: apsw.Connection,
    group: _Group,
    seqs: dict[int, int],
    counts: _Counter,
    where: str,
    params: Params,
) -> dict[int, tuple[NDArray[np.float64], float]]:
    """Stem counts and length of each candidate's neighbourhood in one thread group."""
    found: dict[int, tuple[NDArray[np.float64], float]] = {}
    for first, last in _spans(sorted(seqs.values())):
        turns = db.execute(
            "SELECT m.seq, m.text FROM memories AS m WHERE m.thread = ? AND m.persona = ? "
            f"AND m.visibility = ? AND m.seq BETWEEN ? AND ? AND {where} ORDER BY m.seq",
            [*group, first, last, *params],
        ).fetchall()
        at = np.array([as_int(s) for s, _ in turns], dtype=np.int64)
        matrix, lengths = counts.of([str(t) for _, t in turns])
        tf = np.vstack([np.zeros(counts.width), matrix]).cumsum(axis=0)  # running sums
        length = np.concatenate([[0.0], np.cumsum(lengths)])
        for memory_id, seq in seqs.items():
            if first <= seq <= last:
                lo = int(np.searchsorted(at, seq - REACH, side="left"))
                hi = int(np.searchsorted(at, seq + REACH, side="right"))
                found[memory_id] = (tf[hi] - tf[lo], float(length[hi] - length[lo]))
    return found


def _spans(seqs: list[int]) -> list[tuple[int, int]]:
    """The candidates' reaches, overlapping ones merged (sorted seqs in)."""
    spans: list[tuple[int, int]] = []
    for s in seqs:
        if spans and s - REACH <= spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], s + REACH)
        else:
            spans.append((s - REACH, s + REACH))
    return spans


def _bm25(
    tf: dict[int, tuple[NDArray[np.float64], float]], idf: NDArray[np.float64]
) -> dict[int, float]:
    if not tf:
        return {}
    mean_length = sum(n for _, n in tf.values()) / len(tf) or 1.0
    found: dict[int, float] = {}
    for memory_id, (counts, length) in tf.items():
        norm = BM25_K1 * (1 - BM25_B + BM25_B * length / mean_length)
        found[memory_id] = float(np.sum(idf * counts * (BM25_K1 + 1) / (counts + norm)))
    return found


def _stems(tokenize: apsw.FTS5Tokenizer, words: Sequence[str]) -> dict[str, str]:
    """word -> its stem, for the words that have one."""
    found: dict[str, str] = {}
    for w in words:
        stemmed = cast(list[str], tokenize(w.encode(), apsw.FTS5_TOKENIZE_QUERY, None, **_PLAIN))
        if stemmed:
            found[w] = stemmed[0]
    return found


def _idf(db: apsw.Connection, stems: dict[str, str], total: int) -> dict[str, float]:
    """Each stem's BM25 IDF, from the rarest of its words among the memories."""
    words = list(stems)
    sql = f"SELECT term, doc FROM memories_terms WHERE term IN ({', '.join('?' * len(words))})"
    freq = {str(t): as_int(d) for t, d in db.execute(sql, words)}
    weights: dict[str, float] = {}
    for word, stem in stems.items():
        n = freq.get(word, 0)
        idf = math.log(1 + (total - n + 0.5) / (n + 0.5))
        weights[stem] = max(weights.get(stem, 0.0), idf)
    return weights
