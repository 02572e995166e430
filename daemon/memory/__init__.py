"""The user's memory: one SQLite file per user (sqlite-vec + FTS5), a graph index beside it,
content-addressed media, and forgetting that leaves no trace.

    store = MemoryStore.open(app.user_dir(), embedder, bus=app.bus)
    store.remember("my dog is called Rex", persona="personal", source=Origin.VOICE)
    results = store.search("what is my dog called?", SearchFilter(persona="personal"))
    store.forget(store.select_for_forget(match="Rex"))

Modules, one job each: schema (migrations), db (connection, pragmas), vectors (sqlite-vec
k-NN), graph (usearch HNSW file), index (the graph's life cycle beside the store), rows
(memory rows by id), fts (BM25 candidates), context (conversation turns indexed with their
neighbours), speakers (who said a turn, whom a question names), hybrid (the search), fusion
(RRF + speaker + recency + corrections), rerank and neighbourhood (the second stage),
supersede (when a new fact retires an old one), forget (selecting and removing every trace),
filters (the persona rule), media, exif, validate, importer, archive (export), store (the
orchestration).
"""

from __future__ import annotations

from secondself.memory.forget import forget_user
from secondself.memory.model import (
    ForgetReport,
    Kind,
    MediaInput,
    Memory,
    NewMemory,
    Origin,
    Scores,
    SearchFilter,
    SearchResult,
    Visibility,
)
from secondself.memory.store import MemoryStore

__all__ = [
    "ForgetReport",
    "Kind",
    "MediaInput",
    "Memory",
    "MemoryStore",
    "NewMemory",
    "Origin",
    "Scores",
    "SearchFilter",
    "SearchResult",
    "Visibility",
    "forget_user",
]
