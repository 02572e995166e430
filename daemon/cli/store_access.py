"""How a command opens the user's memory: the embedding model only when it needs vectors."""

from __future__ import annotations

import os

from secondself.core.protocols import Embedder
from secondself.memory.progress import StderrProgress
from secondself.memory.store import MemoryStore
from secondself.service.app import App


def load_embedder(app: App, batch: bool = False) -> Embedder:
    """`batch`: a one-off bulk job (import) may use every core: 1.8x faster on 2 cores."""
    from secondself.memory.embedding import load_embedder as load

    threads = max(app.config.embed.threads, os.cpu_count() or 1) if batch else None
    return load(app.models, app.config.embed.model, threads or app.config.embed.threads)


def open_store(app: App, vectors: bool, batch: bool = False) -> MemoryStore:
    embedder = load_embedder(app, batch) if vectors else None
    return MemoryStore.open(
        app.user_dir(),
        embedder,
        bus=app.bus,
        progress=StderrProgress("re-embedding memories"),
    )
