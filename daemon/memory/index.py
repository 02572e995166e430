"""The graph index's life cycle beside one store: built, kept in step, purged, saved, dropped.

SQLite holds the vectors; the graph (`graph.Graph`, one file) only speeds up k-NN once
the store has `minimum` vectors. Every vector change is logged in `vector_log` by
triggers, so a graph in any process catches up from its saved log position; the log is
pruned up to the position of the last saved file. The store's lock is held around every
call: this class has no lock of its own.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import apsw
import numpy as np

from secondself.core.errors import SecondselfError
from secondself.memory import db as dbm
from secondself.memory import vectors
from secondself.memory.db import as_int, scalar_int
from secondself.memory.filters import Params
from secondself.memory.graph import Graph, connectivity_for, delete_files
from secondself.memory.progress import Progress, silent

log = logging.getLogger(__name__)

GRAPH_FILE = "memory.graph"
GRAPH_MIN = 1000  # below this many vectors, exact sqlite-vec search is fast enough (< 1 ms)
GRAPH_SAVE_EVERY = 1000  # changes between saves (a crash loses none: the log replays them)
WIDEST = 4096  # graph candidates beyond which a filtered search scans exactly instead


class GraphIndex:
    """The graph file of one store: loaded, built or dropped as the store's size calls for."""

    def __init__(self, db: apsw.Connection, user_dir: Path, minimum: int, threads: int) -> None:
        self.db = db
        self.path = user_dir / GRAPH_FILE
        self.minimum = minimum  # vectors from which a graph is kept
        self.threads = threads
        self._graph: Graph | None = None
        self._changes_since_save = 0
        self._count_at: tuple[int, int] = (-1, 0)  # (log seq, vector count)

    def close(self) -> None:
        """Save unsaved changes; without a graph anywhere, nothing needs the log."""
        if self._graph is not None and self._graph.dirty:
            with contextlib.suppress(SecondselfError):
                self._save()
        elif self._graph is None and not self.path.exists():
            with contextlib.suppress(apsw.Error), self.db:
                self.db.execute("DELETE FROM vector_log")
        self._graph = None

    # --- searching -----------------------------------------------------------------------

    def nearest(
        self, q: vectors.Matrix, k: int, cond: str, params: Params, *, maintain: bool = True
    ) -> list[tuple[int, float]]:
        """Top-k (id, exact similarity) among memories passing `cond`.

        Small stores: exact sqlite-vec scan. Large: graph candidates, filtered and re-ranked
        exactly in SQL (so filters and the persona rule hold), widening the candidate set
        when a selective filter rejects most of them, and falling back to the exact scan.
        Without `maintain` the graph is used as it is, never built or synced (inside a
        write transaction, a rollback would leave it ahead of the log).
        """
        graph = self._ready() if maintain else self._graph
        if graph is None:
            return vectors.exact_search(self.db, q, k, cond, params)
        count = max(2 * k, 40)  # graph candidates re-ranked exactly: recall ~1 at 100k
        while True:
            keys, exhausted = graph.search(q, count)
            hits = vectors.exact_search(self.db, q, k, cond, params, among=keys.tolist())
            if len(hits) >= k or exhausted:
                return hits
            if count >= WIDEST:
                return vectors.exact_search(self.db, q, k, cond, params)
            count *= 4

    def vector_count(self) -> int:
        """Stored vectors, counted again only when the log moved."""
        seq = self._log_seq()
        if self._count_at[0] != seq:
            self._count_at = (seq, vectors.count(self.db))
        return self._count_at[1]

    def size(self) -> int | None:
        """Live vectors in the graph (loaded or built and caught up first), None without one."""
        graph = self._ready()
        return None if graph is None else len(graph)

    # --- keeping in step -----------------------------------------------------------------

    def maintain(self, coming: int = 0) -> None:
        """Load, build or catch up the graph as the store's size calls for (see `_ready`)."""
        self._ready(coming)

    def save_if_due(self) -> None:
        """Save once enough changes piled up (between saves the log keeps them)."""
        if self._graph is not None and self._changes_since_save >= GRAPH_SAVE_EVERY:
            self._save()

    def purge(self) -> None:
        """After a forget: no graph file keeps a forgotten vector (works without an embedder)."""
        if self._graph is None and self.path.exists():
            model = self._vector_model()
            self._graph = None if model is None else Graph.load(self.path, model[1], model[0])
            if self._graph is None:  # unreadable: it must not keep forgotten vectors
                self.drop()
                return
        if self._graph is not None:
            if self.vector_count() < self.minimum // 2:
                self.drop()
            else:
                self._save()  # syncs (purging removed slots) and rewrites the file

    def drop(self) -> None:
        self._graph = None
        delete_files(self.path)

    def rebuild(self, progress: Progress = silent) -> None:
        self.drop()
        if self.vector_count() >= self.minimum:
            self._build(progress=progress)

    # --- inside ------------------------------------------------------------------------

    def _log_seq(self) -> int:
        # AUTOINCREMENT's counter: never goes back, even after the log is pruned.
        return scalar_int(self.db, "SELECT seq FROM sqlite_sequence WHERE name = 'vector_log'")

    def _ready(self, coming: int = 0) -> Graph | None:
        """The graph, loaded or built and caught up, when the store is big enough for one.

        `coming`: vectors a bulk import is about to add. A graph too sparse for the size
        the import reaches is rebuilt with the larger M here, in the import, never in a
        single write (a rebuild of 300,000 vectors takes minutes).
        """
        model = self._vector_model()
        if model is None:
            return None
        n = self.vector_count()
        if self._graph is None:
            if n < self.minimum:
                return None
            loaded = Graph.load(self.path, model[1], model[0])
            self._graph = loaded if loaded is not None else self._build(n + coming)
        elif n < self.minimum // 2:  # shrank a lot (forgetting): exact search again
            self.drop()
            return None
        if coming and self._graph.connectivity < connectivity_for(n + coming):
            self.drop()
            self._graph = self._build(n + coming)
        self._sync()
        return self._graph

    def _vector_model(self) -> tuple[str, int] | None:
        """(name, dimensions) of the model the stored vectors were made with, if any.

        The graph needs only these, never the model itself: forgetting works without
        loading an embedder.
        """
        name = dbm.get_meta(self.db, "embed_model")
        dims = dbm.get_meta(self.db, "embed_dims")
        return None if name is None or dims is None else (name, int(dims))

    def _build(self, expected: int = 0, progress: Progress = silent) -> Graph:
        """A graph of every stored vector, sized for `expected` of them (at least those)."""
        model = self._vector_model()
        assert model is not None, "a graph is only built over stored vectors"
        name, dims = model
        with self.db:  # one read snapshot: the vectors and the log position agree
            total = vectors.count(self.db)
            graph = Graph.empty(self.path, dims, name, expected=max(total, expected))
            graph.seq = self._log_seq()
            done = 0
            for ids, matrix in vectors.iterate(self.db, dims):
                graph.add(ids, matrix, threads=0)
                done += len(ids)
                progress(done, total)
        self._graph = graph
        self._save()
        return graph

    def _sync(self) -> None:
        """Apply vector changes made since the graph's log position (by any process)."""
        graph = self._graph
        if graph is None:
            return
        # The log's counter first: an entry logged between the two reads is then in `rows`,
        # never taken for a pruned one. The counter never goes back, so entries missing
        # after our position mean another process saved the graph and pruned the log.
        newest = self._log_seq()
        rows = self.db.execute(
            "SELECT seq, memory_id, op FROM vector_log WHERE seq > ? ORDER BY seq", (graph.seq,)
        ).fetchall()
        pruned_to = as_int(rows[0][0]) - 1 if rows else newest
        if pruned_to > graph.seq:
            self._catch_up_from_file(graph, pruned_to)
            return
        if not rows:
            return
        last: dict[int, str] = {}
        for _seq, memory_id, op in rows:
            last[as_int(memory_id)] = str(op)
        gone = [i for i, op in last.items() if op == "del"]
        added = [i for i, op in last.items() if op == "add"]
        graph.remove(gone, purge=True)
        found, matrix = vectors.get(self.db, added, graph.dims)
        graph.add(np.array(found, dtype=np.int64), matrix, threads=self.threads)
        graph.seq = as_int(rows[-1][0])
        self._changes_since_save += len(rows)

    def _catch_up_from_file(self, behind: Graph, pruned_to: int) -> None:
        """Another process saved the graph and pruned the log up to `pruned_to`, past our
        position: our graph may hold what it removed since (a forgotten vector), so it is
        dropped. Its file (at or after the pruned position) is taken and caught up, or the
        graph rebuilt."""
        fresh = Graph.load(self.path, behind.dims, behind.model)
        if fresh is None or fresh.seq < pruned_to:
            self._build()
        else:
            self._graph = fresh
            self._sync()

    def _save(self) -> None:
        if self._graph is None:
            return
        self._sync()
        graph = self._graph  # read again: catching up may have replaced or rebuilt it
        if graph is None:
            return
        if graph.needs_compaction or not graph.save():
            log.info("rewriting the graph index from the database (forgotten slots)")
            self._graph = None
            delete_files(self.path)
            self._build()
            return
        self._changes_since_save = 0
        with self.db:  # entries up to the saved position are in the file now
            self.db.execute("DELETE FROM vector_log WHERE seq <= ?", (graph.seq,))
