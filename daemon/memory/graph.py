"""An HNSW graph index (usearch) over the stored vectors, kept in one file beside the DB.

SQLite is the source of truth; this file is a cache that can always be rebuilt from it.
It is small-store-free: below a size threshold the store searches exactly in SQLite.

Forgetting needs care: usearch's `remove` only unlinks a vector, its bytes stay in the
slot (and in a saved file) until the slot is reused. `remove(..., purge=True)` therefore
fills the freed slots at once with random "tombstone" vectors that stay in the graph
(never returned by `search`; if they were removed again, the next purge's tombstones
could land in their slots instead of the newly freed ones). `save` checks the written
file for the removed vectors' bytes and reports failure so the caller rebuilds instead;
the caller also rebuilds when tombstones pile up (`needs_compaction`).

Connectivity is chosen when a graph is built: M=16 below LARGE vectors, M=32 from there.
On the benchmark's clustered data (docs/benchmarks.md) M=16 found only 0.53-0.56 of the
true top-10 at 1M (ef_search 128; 0.89 even at 2048). M=32 found 0.93-0.96 at ef_search 128
(it varies from build to build), and on one build swept: 0.953 at 160 and 192, 0.964 at 256
(p50 10.9 ms), 0.974 at 384 (15.0 ms). M=32 graphs search with 256, which keeps a margin
over the 0.95 goal for little time.
Smaller M=16 graphs need a wider search as they grow: 0.99 at 100k with ef_search 64, but
at 300k 0.80 with 64 and 0.985 with 256. M=16 costs half as much per insert. A graph keeps
the M it was built with, except that a bulk import taking the store past LARGE rebuilds it
with M=32 (a single write never does: that rebuild takes minutes).
"""

from __future__ import annotations

import json
import mmap
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# onnxruntime must be loaded before usearch: the other order segfaults when onnxruntime is
# imported later in the same process (usearch's statically linked C++ runtime clashes).
import onnxruntime  # noqa: F401
from numpy.typing import NDArray
from usearch.index import Index

FORMAT = 1
TOMBSTONE = 1 << 62  # keys at or above this are placeholders, never memory ids
CONNECTIVITY = 16
CONNECTIVITY_LARGE = 32  # for graphs built with LARGE vectors or more
EXPANSION_ADD = 128
EXPANSION_SEARCH = 64  # M=16 graphs of up to MEDIUM vectors
EXPANSION_SEARCH_MEDIUM = 256  # M=16 graphs above MEDIUM
EXPANSION_SEARCH_LARGE = 256  # M=32 graphs (see the notes above)
MEDIUM = 100_000
LARGE = 300_000
DTYPE = "f16"  # half the memory of f32; the store re-ranks candidates with exact f32

Ids = NDArray[np.int64]
Matrix = NDArray[np.float32]


class Graph:
    def __init__(self, path: Path, dims: int, model: str, index: Index, seq: int = 0) -> None:
        self.path = path
        self.dims = dims
        self.model = model
        self.index = index
        self.seq = seq  # the last vector_log entry applied
        self.dirty = False
        self._purged: list[bytes] = []  # stored bytes of removed vectors, until saved
        self._rng = np.random.default_rng()
        keys = np.asarray(index.keys, dtype=np.uint64) if len(index) else np.zeros(0, np.uint64)
        self.tombstones = int(np.count_nonzero(keys >= TOMBSTONE))

    @classmethod
    def empty(cls, path: Path, dims: int, model: str, expected: int = 0) -> Graph:
        """A graph for about `expected` vectors (which sets its connectivity)."""
        index = Index(
            ndim=dims,
            metric="cos",
            dtype=DTYPE,
            connectivity=connectivity_for(expected),
            expansion_add=EXPANSION_ADD,
            expansion_search=EXPANSION_SEARCH,
        )
        return cls(path, dims, model, index)

    @classmethod
    def load(cls, path: Path, dims: int, model: str) -> Graph | None:
        """The saved graph, or None when it is missing, unreadable or for another model."""
        try:
            state = json.loads(sidecar(path).read_text(encoding="utf-8"))
            if state.get("format") != FORMAT or state["model"] != model or state["dims"] != dims:
                return None
            index = cls.empty(path, dims, model).index
            index.load(str(path))
            if index.ndim != dims:
                return None
            graph = cls(path, dims, model, index)
            graph.seq = int(state["seq"])
            graph.index.expansion_search = EXPANSION_SEARCH  # type: ignore[misc]
            return graph
        except (OSError, ValueError, KeyError, RuntimeError):
            return None

    @property
    def connectivity(self) -> int:
        return int(self.index.connectivity)

    def __len__(self) -> int:
        """Live vectors (tombstones not counted)."""
        return len(self.index) - self.tombstones

    @property
    def needs_compaction(self) -> bool:
        return self.tombstones > max(1000, len(self.index) // 4)

    def add(self, ids: Ids, vectors: Matrix, threads: int = 1) -> None:
        """Insert or replace the vectors of these ids."""
        if len(ids) == 0:
            return
        keys = ids.astype(np.uint64)
        present = keys[np.asarray(self.index.contains(keys), dtype=bool)]
        if len(present):
            self.index.remove(present)
        self.index.add(keys, vectors, threads=threads)
        self.dirty = True

    def remove(self, ids: Sequence[int], purge: bool) -> None:
        """Unlink these ids; with `purge`, overwrite their slots so their bytes are gone."""
        keys = np.array(ids, dtype=np.uint64)
        keys = keys[np.asarray(self.index.contains(keys), dtype=bool)] if len(keys) else keys
        if len(keys) == 0:
            return
        if purge:
            stored = self.index.get(keys, dtype="f16")
            rows = stored if isinstance(stored, tuple) else (stored,)
            self._purged.extend(r.tobytes() for r in rows if r is not None)
        self.index.remove(keys)
        if purge:  # the next adds reuse exactly the freed slots: overwrite them with noise
            noise = self._rng.standard_normal((len(keys), self.dims)).astype(np.float32)
            noise /= np.linalg.norm(noise, axis=1, keepdims=True)
            first = TOMBSTONE + self.tombstones
            tombs = np.arange(first, first + len(keys), dtype=np.uint64)
            self.index.add(tombs, noise, threads=1)
            self.tombstones += len(keys)
        self.dirty = True

    def search(self, query: Matrix, count: int) -> tuple[Ids, bool]:
        """Approximate nearest ids, best first (tombstones dropped), and whether the graph
        ran out (returned fewer than `count` entries, tombstones included)."""
        if len(self) == 0:
            return np.zeros(0, dtype=np.int64), True
        ef = expansion_search(len(self), self.connectivity)
        self.index.expansion_search = max(ef, count)  # type: ignore[misc]
        matches = self.index.search(query, count, threads=1)
        keys = np.asarray(matches.keys, dtype=np.uint64)
        return keys[keys < TOMBSTONE].astype(np.int64), len(keys) < count

    def save(self) -> bool:
        """Write the graph atomically; False (nothing written) if a removed vector survived."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        _new_private_file(tmp)
        self.index.save(str(tmp))
        if self._purged and _contains_any(tmp, self._purged):
            tmp.unlink()
            return False
        _fsync(tmp)
        os.replace(tmp, self.path)
        state = {
            "format": FORMAT,
            "model": self.model,
            "dims": self.dims,
            "seq": self.seq,
            "count": len(self),
        }
        side = sidecar(self.path)
        side_tmp = side.with_name(side.name + ".tmp")
        _new_private_file(side_tmp)
        side_tmp.write_text(json.dumps(state), encoding="utf-8")
        _fsync(side_tmp)
        os.replace(side_tmp, side)
        self._purged.clear()
        self.dirty = False
        return True


def connectivity_for(expected: int) -> int:
    return CONNECTIVITY_LARGE if expected >= LARGE else CONNECTIVITY


def expansion_search(size: int, connectivity: int) -> int:
    """The search beam for a graph of this size and M (see the module notes)."""
    if connectivity >= CONNECTIVITY_LARGE:
        return EXPANSION_SEARCH_LARGE
    return EXPANSION_SEARCH if size <= MEDIUM else EXPANSION_SEARCH_MEDIUM


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def delete_files(path: Path) -> None:
    for p in (path, sidecar(path), path.with_name(path.name + ".tmp")):
        p.unlink(missing_ok=True)


def _new_private_file(path: Path) -> None:
    """An empty file only its owner can read, for a writer that keeps the mode it finds."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a stale one from a crash keeps its old mode otherwise
    finally:
        os.close(fd)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _contains_any(path: Path, patterns: list[bytes]) -> bool:
    with path.open("rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return False
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return any(data.find(p) >= 0 for p in patterns)
