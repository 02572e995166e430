"""Full-text (FTS5 BM25) candidates for a query, safe against FTS5 syntax in user text.

Query words are matched as plain terms (no operators from the user's text reach FTS5).
Words that are very common in this user's memories are dropped before matching: they
add almost nothing to BM25 yet cost a score per matching row (at a million memories a
common word would cost tens of milliseconds). fts5vocab tells each word's frequency.
"""

from __future__ import annotations

import re
import unicodedata

import apsw

from secondself.memory.db import as_float, as_int
from secondself.memory.filters import Params

MAX_TERMS = 16
COMMON_FRACTION = 0.02  # a word in more than 2% of memories is not searched by words...
COMMON_FLOOR = 500  # ... unless the store is small enough that it costs nothing

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "mine",
        "no",
        "nor",
        "not",
        "of",
        "on",
        "or",
        "our",
        "ours",
        "she",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "to",
        "too",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "you",
        "your",
        "yours",
    ]
)

_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """Words as FTS5's unicode61 tokenizer (remove_diacritics 2) sees them, in order."""
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return _WORD.findall(folded)


def query_terms(db: apsw.Connection, query: str, total: int) -> list[str]:
    """The query's searchable words: known to the index, not stop words, not too common."""
    wanted: list[str] = []
    for w in words(query):
        if w not in STOPWORDS and w not in wanted:
            wanted.append(w)
    wanted = wanted[:MAX_TERMS]
    if not wanted:
        return []
    sql = f"SELECT term, doc FROM memories_terms WHERE term IN ({', '.join('?' * len(wanted))})"
    freq = {str(t): as_int(d) for t, d in db.execute(sql, wanted)}
    limit = max(COMMON_FLOOR, COMMON_FRACTION * total)
    return [w for w in wanted if 0 < freq.get(w, 0) <= limit]


def search(
    db: apsw.Connection,
    terms: list[str],
    k: int,
    where: str,
    params: Params,
    *,
    table: str = "memories_fts",
) -> list[tuple[int, float]]:
    """Top-k (id, bm25) among memories passing `where`; bm25 is lower-is-better.

    BM25 ranks the matches inside FTS5 first (cheap), then only the best of them are
    checked against `where` in SQL; the window widens when the filter rejects too many,
    and a selective filter falls back to filtering every match (always correct). `table`:
    an FTS5 table whose rowids are memory ids (the memories' own words by default).
    """
    if not terms:
        return []
    expression = " OR ".join(f'"{t}"' for t in terms)
    window = max(4 * k, 40)
    while window <= 4096:
        ranked = [
            (as_int(i), as_float(s))
            for i, s in db.execute(
                f"SELECT rowid, bm25({table}) AS score FROM {table} "
                f"WHERE {table} MATCH ? ORDER BY score LIMIT ?",
                (expression, window),
            )
        ]
        allowed = {
            as_int(r[0])
            for r in db.execute(
                f"SELECT m.id FROM memories AS m WHERE {where} "
                "AND m.id IN (SELECT value FROM json_each(?))",
                [*params, "[" + ",".join(str(i) for i, _ in ranked) + "]"],
            )
        }
        hits = [(i, s) for i, s in ranked if i in allowed][:k]
        if len(hits) >= k or len(ranked) < window:
            return hits
        window *= 4
    sql = (
        f"SELECT f.rowid, bm25({table}) AS score FROM {table} AS f "
        "JOIN memories AS m ON m.id = f.rowid "
        f"WHERE {table} MATCH ? AND {where} ORDER BY score LIMIT ?"
    )
    return [(as_int(i), as_float(s)) for i, s in db.execute(sql, [expression, *params, k])]
