"""One user's memory: a SQLite file (the truth), a graph index beside it, a media folder.

`MemoryStore` is the one way in: it opens, saves, reads, searches and forgets, handing each
job to the module that does it (write, rows, hybrid, forget, reembed; index keeps the
graph). It is safe to share between threads (one lock, held around every call into those
modules), and between processes (SQLite WAL; graph indexes catch up from `vector_log`; a
file another process deleted or replaced is noticed, never written to: `dbfile`).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

import apsw
import numpy as np

from secondself.core.bus import Bus
from secondself.core.errors import SecondselfError, Stage, UserError
from secondself.core.protocols import Embedder
from secondself.memory import context, hybrid, reembed, rows, schema, vectors
from secondself.memory import db as dbm
from secondself.memory import forget as forgetting
from secondself.memory.db import as_int, scalar_int
from secondself.memory.dbfile import DbFile
from secondself.memory.filters import condition
from secondself.memory.forget import forget_user as forget_user  # callers import it from here
from secondself.memory.index import GRAPH_MIN, GraphIndex
from secondself.memory.model import (
    ForgetReport,
    Kind,
    MediaInput,
    Memory,
    NewMemory,
    Origin,
    SearchFilter,
    SearchResult,
    Visibility,
)
from secondself.memory.progress import Progress, silent
from secondself.memory.write import Clock, Writer

BATCH = 64


# Every store opened in this process, numbered: a file deleted and made again can get the same
# inode, so a conversation tells a reopened store from the old one by this number.
_OPENINGS = itertools.count(1)


class MemoryStore:
    """One user's memories; `MemoryStore.open` opens (creates, migrates) them."""

    def __init__(
        self,
        user_dir: Path,
        db: apsw.Connection,
        embedder: Embedder | None,
        bus: Bus | None,
        clock: Clock,
        graph_min: int,
        threads: int,
    ) -> None:
        self.user_dir = user_dir
        self.db = db
        self.bus = bus
        self.clock = clock
        self._embedder = embedder
        self._file = DbFile(db, user_dir / dbm.DB_FILE)
        self._opening = next(_OPENINGS)  # this opening, not the file: an inode is reused
        self._index = GraphIndex(db, user_dir, graph_min, threads)
        self._writer = Writer(db, user_dir, clock, bus, self._index, self._embed)
        self._lock = threading.RLock()
        self._searcher = hybrid.Searcher(db, self._index, self._embed, self._using)

    # --- life cycle ------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        user_dir: Path,
        embedder: Embedder | None = None,
        *,
        bus: Bus | None = None,
        clock: Clock = time.time,
        graph_min: int = GRAPH_MIN,
        threads: int = 1,
        progress: Progress = silent,
    ) -> MemoryStore:
        """Open (create, migrate) `<user_dir>/memory.db`.

        With an embedder, vectors made by another model are re-embedded first (with
        progress), so a model change never mixes incomparable vectors.
        """
        db = dbm.connect(user_dir / dbm.DB_FILE)
        store = cls(user_dir, db, embedder, bus, clock, graph_min, threads)
        if embedder is not None:
            try:
                store.ensure_embeddings(progress)
            except BaseException:
                store.close()
                raise
        return store

    def close(self) -> None:
        with self._lock:
            if not self._file.replaced:  # else its graph is not saved over the new file's
                self._index.close()
            self.db.close()

    @property
    def replaced(self) -> bool:
        """Whether another process deleted or replaced the database file since this store
        opened it (`forget --user-all`, a restore): it then refuses every call; close it
        and open the folder again."""
        return self._file.replaced

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextlib.contextmanager
    def _using(self) -> Iterator[None]:
        """The lock, on a file still on disk: a store whose file is gone reads and saves
        nothing (a commit is rolled back by `DbFile` should it go meanwhile)."""
        with self._lock:
            self._file.check()
            try:
                yield
            except apsw.ConstraintError:
                self._file.check()  # a commit refused: say why
                raise

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            raise SecondselfError(
                "memory-no-embedder",
                "this memory store was opened without an embedder",
                Stage.MEMORY,
            )
        return self._embedder

    @property
    def graph_path(self) -> Path:
        return self._index.path

    @property
    def graph_min(self) -> int:
        """Vectors from which searches go through the graph index (exact below)."""
        return self._index.minimum

    @graph_min.setter
    def graph_min(self, vectors: int) -> None:
        self._index.minimum = vectors

    # --- embeddings --------------------------------------------------------------------

    def ensure_embeddings(self, progress: Progress = silent) -> int:
        """Embed memories that have no vector, or all of them if the model changed; then
        build the conversation contexts still missing (`context.py`).

        Returns how many memories were (re-)embedded.
        """
        emb = self.embedder
        with self._using():
            return reembed.ensure(self.db, self._index, emb, progress, BATCH)

    def _embed(self, texts: Sequence[str]) -> vectors.Matrix:
        return reembed.embed(self.embedder, texts)

    # --- saving ------------------------------------------------------------------------

    def remember(
        self,
        text: str,
        *,
        kind: Kind = Kind.NOTE,
        persona: str = "personal",
        visibility: Visibility = Visibility.PRIVATE,
        source: Origin = Origin.CLI,
        provenance: str = "",
        media: MediaInput | None = None,
        created: float | None = None,
        corrects: int | None = None,
        sources: Sequence[int] = (),
    ) -> Memory:
        """Save one memory durably (it survives a crash once this returns)."""
        item = NewMemory(
            text=text,
            kind=kind,
            persona=persona,
            visibility=visibility,
            source=source,
            provenance=provenance,
            media=media,
            created=created,
            corrects=corrects,
        )
        (memory_id,) = self.add([item])
        if sources:
            self.link_sources(memory_id, sources)
        return self.get(memory_id)

    def add(
        self, items: Sequence[NewMemory], *, progress: Progress = silent, batch: int = BATCH
    ) -> list[int]:
        """Save many memories in batches; each batch is one durable transaction.

        Every item is checked before anything is written, so bad input changes nothing.
        """
        with self._using():
            ids = self._writer.add(items, progress, batch)
            threaded = [i for i, it in zip(ids, items, strict=True) if it.thread is not None]
            if threaded:
                context.refresh(self.db, threaded, self._embed)
            return ids

    def link_sources(self, turn_id: int, memory_ids: Sequence[int]) -> None:
        """Record that a conversation turn quoted these memories (forgotten with them)."""
        with self._using(), self.db:
            known = self.get_many([turn_id, *memory_ids])
            for memory_id in (turn_id, *memory_ids):
                if memory_id not in known:
                    raise UserError(
                        "memory-unknown-id", f"no memory with id {memory_id}", Stage.MEMORY
                    )
            self.db.executemany(
                "INSERT OR IGNORE INTO memory_sources (turn_id, memory_id) VALUES (?, ?)",
                [(turn_id, int(m)) for m in memory_ids],
            )

    def set_links(self, memory_id: int, corrects: int | None, superseded_by: int | None) -> None:
        """Restore correction/supersede links (used by archive import, after id remapping)."""
        with self._using(), self.db:
            self.db.execute(
                "UPDATE memories SET corrects = ?, superseded_by = ? WHERE id = ?",
                (corrects, superseded_by, memory_id),
            )

    def set_visibility(self, memory_id: int, visibility: Visibility) -> Memory:
        """Share a memory with every persona of the user, or make it private again."""
        with self._using():
            self.get(memory_id)  # UserError for an unknown id
            with self.db:
                self.db.execute(
                    "UPDATE memories SET visibility = ? WHERE id = ?", (str(visibility), memory_id)
                )
            return self.get(memory_id)

    def quotes(self) -> dict[int, list[int]]:
        """turn id -> the memories that conversation turn quoted."""
        found: dict[int, list[int]] = {}
        with self._using():
            for turn, memory in self.db.execute(
                "SELECT turn_id, memory_id FROM memory_sources ORDER BY turn_id, memory_id"
            ):
                found.setdefault(as_int(turn), []).append(as_int(memory))
        return found

    # --- reading -----------------------------------------------------------------------

    def get(self, memory_id: int) -> Memory:
        with self._using():
            return rows.get(self.db, memory_id)

    def get_many(self, ids: Sequence[int]) -> dict[int, Memory]:
        with self._using():
            return rows.get_many(self.db, ids)

    def count(self) -> int:
        with self._using():
            return scalar_int(self.db, "SELECT count(*) FROM memories")

    def recent(self, where: SearchFilter, limit: int = 20) -> list[Memory]:
        """The newest memories visible under `where`, newest first."""
        with self._using():
            cond, params = condition(where, self.clock())
            found = self.db.execute(
                f"SELECT {rows.COLUMNS} FROM memories AS m WHERE {cond} "
                "ORDER BY m.created DESC, m.id DESC LIMIT ?",
                [*params, limit],
            ).fetchall()
        return [rows.to_memory(r) for r in found]

    def iterate(self, batch: int = 1000) -> Iterator[Memory]:
        """Every memory of the user, every persona, oldest id first (for export)."""
        last = 0
        while True:
            with self._using():
                found = self.db.execute(
                    f"SELECT {rows.COLUMNS} FROM memories WHERE id > ? ORDER BY id LIMIT ?",
                    (last, batch),
                ).fetchall()
            if not found:
                return
            for r in found:
                yield rows.to_memory(r)
            last = as_int(found[-1][0])

    # --- search ------------------------------------------------------------------------

    def search(
        self,
        query: str,
        where: SearchFilter,
        limit: int = 10,
        *,
        vector: vectors.Matrix | None = None,
    ) -> list[SearchResult]:
        """Hybrid search: k-NN and BM25 of memories and conversation windows, fused and
        re-ranked (`hybrid.py`); filters in SQL."""
        if not query.strip():
            raise UserError("search-empty", "the search text is empty", Stage.MEMORY)
        return self._searcher.search(query, where, self.clock, max(1, limit), vector)

    def search_vector(
        self, vector: vectors.Matrix, where: SearchFilter, k: int = 10
    ) -> list[tuple[int, float]]:
        """Top-k (id, similarity) by vector alone (the k-NN half of `search`)."""
        with self._using():
            cond, params = condition(where, self.clock())
            return self._index.nearest(np.asarray(vector, dtype=np.float32), k, cond, params)

    def rebuild_graph(self, progress: Progress = silent) -> None:
        with self._using():
            self._index.rebuild(progress)

    # --- forgetting --------------------------------------------------------------------

    def select_for_forget(
        self,
        *,
        ids: Sequence[int] = (),
        match: str | None = None,
        since: float | None = None,
        until: float | None = None,
        persona: str | None = None,
    ) -> list[Memory]:
        """The memories a forget with these criteria removes (for a confirmation prompt).

        Criteria combine with AND; `persona` limits to memories that persona saved.
        """
        with self._using():
            return forgetting.select(
                self.db, ids=ids, match=match, since=since, until=until, persona=persona
            )

    def forget(self, memories: Sequence[Memory], *, persona: str | None = None) -> ForgetReport:
        """Remove these memories and every trace of them.

        Rows, vectors, FTS entries (segments merged so no token remains), media files no
        other memory uses, conversation turns that quoted them, graph entries (slots
        overwritten, file rewritten); then the WAL is checkpointed and truncated and the
        database vacuumed, so no forgotten byte remains in any file of the user folder.
        `persona`: who asked; the report (and MemoryForgotten) names only what it may see
        (another persona's turns that quoted the memories go too, unnamed: `forget.py`).
        """
        with self._using():
            report = forgetting.forget(
                self.db, self._index, self.user_dir, self.bus, memories, persona
            )
            if self._embedder is not None:  # else rebuilt when opened with one
                context.refresh(self.db, context.missing(self.db), self._embed)
            return report

    def forget_epoch(self) -> tuple[object, ...]:
        """A value that changes whenever something may have been forgotten from this store,
        by any process: what was read from it before may hold forgotten text (a
        conversation's history). Cheap: one row of `meta`."""
        with self._using():
            return (self._opening, forgetting.forget_count(self.db))

    def compact(self) -> None:
        """VACUUM, then checkpoint and truncate the WAL: no freed page keeps old bytes."""
        forgetting.compact(self.db, self.user_dir)

    @contextlib.contextmanager
    def read_transaction(self) -> Iterator[None]:
        """Hold one read snapshot (and this store's lock) for a consistent multi-step read."""
        with self._using(), self.db:
            yield

    def integrity(self) -> str:
        with self._using():
            row = self.db.execute("PRAGMA integrity_check").fetchone()
        return str(row[0]) if row else "no answer"

    def stats(self) -> dict[str, object]:
        with self._using():
            graph = self._index.size()
            return {
                "memories": self.count(),
                "vectors": self._index.vector_count(),
                "graph": graph,
                "embed_model": dbm.get_meta(self.db, "embed_model"),
                "schema": schema.version(self.db),
            }
