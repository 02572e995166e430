"""Embeddings in SQLite: float32 blobs, exact k-NN with sqlite-vec, reads for the graph."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import apsw
import numpy as np
from numpy.typing import NDArray

from secondself.memory.db import as_blob, as_float, as_int, scalar_int
from secondself.memory.filters import Params

Matrix = NDArray[np.float32]


def to_blob(vector: NDArray[np.float32]) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes) -> Matrix:
    return np.frombuffer(blob, dtype="<f4")


def l2_to_similarity(distance: float) -> float:
    # Vectors are L2-normalised, so |a-b|^2 = 2 - 2 cos(a, b). sqlite-vec's L2 is a little
    # faster than its cosine and ranks the same.
    return 1.0 - distance * distance / 2.0


def count(db: apsw.Connection) -> int:
    return scalar_int(db, "SELECT count(*) FROM memory_vectors")


def put(db: apsw.Connection, ids: Sequence[int], vectors: Matrix) -> None:
    db.executemany(
        "INSERT INTO memory_vectors (memory_id, embedding) VALUES (?, ?) "
        "ON CONFLICT (memory_id) DO UPDATE SET embedding = excluded.embedding",
        [(int(i), to_blob(v)) for i, v in zip(ids, vectors, strict=True)],
    )


def get(db: apsw.Connection, ids: Sequence[int], dims: int) -> tuple[list[int], Matrix]:
    """The stored vectors of those ids that have one (in no particular order)."""
    found: list[int] = []
    rows: list[Matrix] = []
    for start in range(0, len(ids), 5000):
        chunk = [int(i) for i in ids[start : start + 5000]]
        sql = (
            "SELECT memory_id, embedding FROM memory_vectors "
            f"WHERE memory_id IN ({', '.join('?' * len(chunk))})"
        )
        for memory_id, blob in db.execute(sql, chunk):
            found.append(as_int(memory_id))
            rows.append(from_blob(as_blob(blob)))
    matrix = np.vstack(rows) if rows else np.zeros((0, dims), dtype=np.float32)
    return found, matrix


def iterate(
    db: apsw.Connection, dims: int, batch: int = 10000
) -> Iterator[tuple[NDArray[np.int64], Matrix]]:
    """Every stored vector, in id order, in batches (for building a graph index)."""
    last = -1
    while True:
        rows = db.execute(
            "SELECT memory_id, embedding FROM memory_vectors WHERE memory_id > ? "
            "ORDER BY memory_id LIMIT ?",
            (last, batch),
        ).fetchall()
        if not rows:
            return
        ids = np.fromiter((as_int(r[0]) for r in rows), dtype=np.int64, count=len(rows))
        blobs = b"".join(as_blob(r[1]) for r in rows)
        matrix = np.frombuffer(blobs, dtype="<f4").reshape(-1, dims)
        yield ids, matrix
        last = int(ids[-1])


def exact_search(
    db: apsw.Connection,
    query: Matrix,
    k: int,
    where: str,
    params: Params,
    among: Sequence[int] | None = None,
    *,
    table: str = "memory_vectors",
) -> list[tuple[int, float]]:
    """Exact top-k (id, cosine similarity) by sqlite-vec over memories passing `where`.

    With `among`, only those ids are scored (re-ranking graph candidates exactly).
    `table`: one with `memory_id` and `embedding` columns (the memories' own by default).
    """
    sql = (
        "SELECT v.memory_id, vec_distance_l2(v.embedding, ?) AS d "
        f"FROM {table} AS v JOIN memories AS m ON m.id = v.memory_id "
        f"WHERE {where}"
    )
    args: Params = [to_blob(query), *params]
    if among is not None:
        sql += " AND v.memory_id IN (SELECT value FROM json_each(?))"
        args.append("[" + ",".join(str(int(i)) for i in among) + "]")
    sql += " ORDER BY d LIMIT ?"
    args.append(k)
    return [(as_int(i), l2_to_similarity(as_float(d))) for i, d in db.execute(sql, args)]
