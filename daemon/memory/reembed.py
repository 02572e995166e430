"""Every memory's vector from the configured model: the missing ones embedded, and all of
them again when the model changed, so vectors of two models are never compared.

The store calls these with its lock held.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import apsw
import numpy as np

from secondself.core.errors import SecondselfError, Stage
from secondself.core.protocols import Embedder
from secondself.memory import context, vectors
from secondself.memory import db as dbm
from secondself.memory.db import scalar_int
from secondself.memory.index import GraphIndex
from secondself.memory.progress import Progress

log = logging.getLogger(__name__)


def embed(embedder: Embedder, texts: Sequence[str]) -> vectors.Matrix:
    """One float32 row per text, checked to be the model's shape."""
    matrix = np.asarray(embedder.embed(list(texts)), dtype=np.float32)
    if matrix.shape != (len(texts), embedder.dimensions):
        raise SecondselfError(
            "embed-shape",
            f"embedder {embedder.name} returned shape {matrix.shape}, "
            f"expected ({len(texts)}, {embedder.dimensions})",
            Stage.EMBED,
        )
    return matrix


def ensure(
    db: apsw.Connection, index: GraphIndex, embedder: Embedder, progress: Progress, batch: int
) -> int:
    """Embed memories that have no vector, or all of them if the model changed; how many."""
    model = dbm.get_meta(db, "embed_model")
    dims = dbm.get_meta(db, "embed_dims")
    changed = model is not None and (model, dims) != (embedder.name, str(embedder.dimensions))
    with db:
        if changed:
            # Old vectors go in the same transaction as the model name: an interrupted
            # re-embed leaves memories without vectors (filled in on the next open), never
            # vectors of two models side by side.
            log.info("embedding model changed (%s -> %s): re-embedding", model, embedder.name)
            db.execute("DELETE FROM memory_vectors")
            db.execute("DELETE FROM vector_log")
            context.clear(db)
        dbm.set_meta(db, "embed_model", embedder.name)
        dbm.set_meta(db, "embed_dims", str(embedder.dimensions))
    if changed:
        index.drop()
    elif scalar_int(db, "SELECT count(*) FROM memories") == vectors.count(db):
        context.refresh(db, context.missing(db), lambda texts: embed(embedder, texts))
        return 0  # the common case, without scanning for memories lacking a vector
    todo = [
        (int(i), context.vector_text(str(t), None if th is None else str(th)))
        for i, t, th in db.execute(
            "SELECT id, text, thread FROM memories WHERE id NOT IN "
            "(SELECT memory_id FROM memory_vectors) ORDER BY id"
        )
    ]
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        matrix = embed(embedder, [t for _, t in chunk])
        with db:
            vectors.put(db, [i for i, _ in chunk], matrix)
        progress(start + len(chunk), len(todo))
    if todo:
        index.maintain()
    context.refresh(db, context.missing(db), lambda texts: embed(embedder, texts))
    return len(todo)
