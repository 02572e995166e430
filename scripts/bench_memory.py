#!/usr/bin/env python3
"""Benchmark the memory store: search latency and recall at 10k/100k (1M with --million),
against sqlite-vec brute force and numpy brute force in the same run, and the bulk import
rate with the real embedder.

Data: synthetic, clustered 384-d vectors shaped like sentence embeddings (each topic a
random centre plus a 64-dimensional random subspace of variation, a little isotropic
noise, L2-normalised), one synthetic text per vector drawn from its topic's words and a
shared Zipfian vocabulary. Queries are fresh samples from the same topics.

    .venv/bin/python scripts/bench_memory.py                 # 10k and 100k
    .venv/bin/python scripts/bench_memory.py --sizes 10000   # quicker
    .venv/bin/python scripts/bench_memory.py --million       # adds 1M (slow to build)
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import apsw
import numpy as np
import sqlite_vec
from numpy.typing import NDArray

from secondself.memory import vectors
from secondself.memory.filters import condition
from secondself.memory.model import Kind, NewMemory, SearchFilter, Source
from secondself.memory.store import GRAPH_MIN, MemoryStore

DIMS = 384
RANK = 64  # per-topic variation subspace
K = 10
Matrix = NDArray[np.float32]


# --- synthetic data ------------------------------------------------------------------------


class Synthetic:
    def __init__(self, n: int, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.topics = max(n // 200, 20)
        centres = self.rng.standard_normal((self.topics, DIMS)).astype(np.float32)
        self.centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
        self.bases = self.rng.standard_normal((self.topics, RANK, DIMS)).astype(
            np.float32
        ) / np.sqrt(DIMS)
        self.common = [_word(i) for i in range(5000)]
        self.common_p = 1.0 / np.arange(1, 5001)
        self.common_p /= self.common_p.sum()

    def sample(self, n: int) -> tuple[Matrix, NDArray[np.int64]]:
        topic = self.rng.integers(0, self.topics, n)
        x = np.empty((n, DIMS), dtype=np.float32)
        for start in range(0, n, 2000):  # the gathered bases are 100 KB per row: chunk
            t = topic[start : start + 2000]
            z = self.rng.standard_normal((len(t), RANK)).astype(np.float32) * 0.35
            part = self.centres[t] + np.einsum("nr,nrd->nd", z, self.bases[t])
            part += 0.04 * self.rng.standard_normal((len(t), DIMS)).astype(np.float32)
            x[start : start + len(t)] = part / np.linalg.norm(part, axis=1, keepdims=True)
        return x, topic

    def text(self, topic: int, words: int) -> str:
        own = [_word(100_000 + topic * 40 + int(j)) for j in self.rng.zipf(1.5, words) % 40]
        shared = self.rng.choice(self.common, words, p=self.common_p)
        mixed = [own[i] if self.rng.random() < 0.6 else str(shared[i]) for i in range(words)]
        return " ".join(mixed)


def _word(i: int) -> str:
    letters = "bcdfghjklmnprstvz"
    vowels = "aeiou"
    out = ""
    i += 1
    while i:
        i, r = divmod(i, len(letters) * len(vowels))
        out += letters[r % len(letters)] + vowels[r // len(letters)]
    return out


class TableEmbedder:
    """Serves precomputed vectors by text (the benchmark measures search, not the model)."""

    name = "synthetic-384"
    dimensions = DIMS

    def __init__(self, fallback: Callable[[Sequence[str]], Matrix] | None = None) -> None:
        self.table: dict[str, Matrix] = {}
        self.fallback = fallback  # for texts the store makes itself (supersede probes)

    def embed(self, texts: Sequence[str]) -> Matrix:
        missing = [t for t in texts if t not in self.table]
        if missing and self.fallback is not None:
            self.table.update(zip(missing, self.fallback(missing), strict=True))
        return np.stack([self.table[t] for t in texts]) if texts else np.zeros((0, DIMS), "f4")


# --- timing helpers ------------------------------------------------------------------------


def timed(fn: Callable[[int], object], n: int) -> tuple[list[object], list[float]]:
    out, times = [], []
    for i in range(n):
        start = time.perf_counter()
        out.append(fn(i))
        times.append((time.perf_counter() - start) * 1000)
    return out, times


def pct(times: list[float], p: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def recall(found: list[list[int]], truth: NDArray[np.int64]) -> float:
    return float(
        np.mean([len(set(f) & set(t.tolist())) / K for f, t in zip(found, truth, strict=True)])
    )


def progress(label: str) -> Callable[[int, int], None]:
    last = [-1]

    def report(done: int, total: int) -> None:
        tenth = 10 * done // max(total, 1)
        if tenth != last[0]:
            last[0] = tenth
            print(f"  {label}: {done}/{total}", file=sys.stderr, flush=True)

    return report


# --- one size ------------------------------------------------------------------------------


def bench_size(n: int, queries: int, workdir: Path) -> list[str]:
    print(f"\n== {n:,} memories ==", file=sys.stderr)
    data = Synthetic(n)
    x, topics = data.sample(n)
    q, q_topics = data.sample(queries)
    embedder = TableEmbedder()
    texts = [f"{data.text(int(t), 10)} n{_word(i)}" for i, t in enumerate(topics)]
    for text, vec in zip(texts, x, strict=True):
        embedder.table[text] = vec
    qtexts = [data.text(int(t), 4) for t in q_topics]

    user = workdir / f"u{n}"
    start = time.perf_counter()
    # Load without a graph (one durable transaction per 5,000), then build it with every core.
    store = MemoryStore.open(user, embedder, graph_min=10**12)
    items = [
        NewMemory(t, kind=Kind.DOCUMENT_CHUNK, source=Source.IMPORT, check_supersede=False)
        for t in texts
    ]
    ids = store.add(items, batch=5000, progress=progress("insert"))
    load_s = time.perf_counter() - start
    store.graph_min = GRAPH_MIN
    start = time.perf_counter()
    store.rebuild_graph(progress("graph"))
    graph_s = time.perf_counter() - start
    id_of = np.array(ids, dtype=np.int64)

    truth = np.argsort(-(q @ x.T), axis=1)[:, :K]
    truth_ids = id_of[truth]
    where = SearchFilter(persona="personal")

    ours, ours_t = timed(lambda i: [m for m, _ in store.search_vector(q[i], where, K)], queries)
    hyb, hyb_t = timed(lambda i: store.search(qtexts[i], where, K, vector=q[i]), queries)
    cond, params = condition(where, time.time())
    sv, sv_t = timed(
        lambda i: [m for m, _ in vectors.exact_search(store.db, q[i], K, cond, params)], queries
    )
    np_found, np_t = timed(lambda i: id_of[np.argpartition(-(x @ q[i]), K)[:K]].tolist(), queries)
    store.close()

    # sqlite-vec's own KNN (vec0 virtual table, float, cosine): brute force inside C.
    vec0_db = apsw.Connection(str(workdir / f"vec0_{n}.db"))
    vec0_db.enable_load_extension(True)
    vec0_db.load_extension(sqlite_vec.loadable_path())
    vec0_db.execute(f"CREATE VIRTUAL TABLE v USING vec0(e float[{DIMS}] distance_metric=cosine)")
    with vec0_db:
        vec0_db.executemany(
            "INSERT INTO v (rowid, e) VALUES (?, ?)",
            ((int(i), vectors.to_blob(v)) for i, v in zip(id_of, x, strict=True)),
        )
    v0, v0_t = timed(
        lambda i: [
            int(r[0])
            for r in vec0_db.execute(
                "SELECT rowid FROM v WHERE e MATCH ? AND k = ?", (vectors.to_blob(q[i]), K)
            )
        ],
        queries,
    )
    vec0_db.close()

    size_mb = sum(p.stat().st_size for p in user.iterdir() if p.is_file()) / 1e6
    graph_mb = (user / "memory.graph").stat().st_size / 1e6
    rows = [
        (
            "this store: k-NN (graph + exact re-rank, persona filter)",
            ours_t,
            recall(ours, truth_ids),
        ),
        ("this store: hybrid search (k-NN + BM25 + fusion)", hyb_t, None),
        ("sqlite-vec brute force (vec_distance_l2 scan, filtered)", sv_t, recall(sv, truth_ids)),
        ("sqlite-vec vec0 KNN brute force (float, cosine)", v0_t, recall(v0, truth_ids)),
        ("numpy brute force (float32 matmul)", np_t, recall(np_found, truth_ids)),
    ]
    lines = [
        f"### {n:,} memories",
        "",
        f"load {load_s:.1f} s (SQLite + FTS5, no embedding), graph build {graph_s:.1f} s; "
        f"user folder {size_mb:.0f} MB (graph {graph_mb:.0f} MB); {queries} queries, top-{K}",
        "",
        "| method | p50 ms | p95 ms | recall@10 |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, t, r in rows:
        rec = "-" if r is None else f"{r:.3f}"
        lines.append(f"| {name} | {pct(t, 0.5):.2f} | {pct(t, 0.95):.2f} | {rec} |")
    hybrid_ids = [[r.memory.id for r in res] for res in hyb]  # type: ignore[attr-defined]
    hybrid_recall = recall(hybrid_ids, truth_ids)
    lines += ["", f"(hybrid top-10 overlap with the pure vector top-10: {hybrid_recall:.2f})", ""]
    return lines


# --- bulk import with the real embedder ------------------------------------------------------


def bench_import(count: int, workdir: Path, threads: int) -> list[str]:
    from secondself.embed import load_embedder
    from secondself.models import ModelStore
    from secondself.paths import models_dir

    embedder = load_embedder(ModelStore(models_dir()), threads=threads)
    rng = np.random.default_rng(1)
    people = ["my sister", "the plumber", "our neighbour", "my manager", "the vet", "Grandma"]
    things = ["the bins go out", "the car service is", "the party is", "the book is due"]
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "the 3rd", "the 21st"]
    sets = {
        "short notes (voice-note length, ~8 words)": [
            f"{rng.choice(things)} on {rng.choice(days)} ({i})" for i in range(count)
        ],
        "longer notes (~16 words)": [
            f"{rng.choice(people)} reminded me that {rng.choice(things)} on {rng.choice(days)} "
            f"and {rng.choice(people)} will bring the cake (note {i})"
            for i in range(count)
        ],
    }
    lines = [
        "### Bulk import with the real embedder",
        "",
        f"`MemoryStore.add` of {count} notes: MiniLM-L6 F16 GGUF in llama.cpp ({threads} "
        "thread(s)), SQLite + FTS5 (one durable transaction per 64), supersede check, graph "
        "index built on crossing 1,000 and kept in step. 'embedding only': the same texts "
        "through the embedder alone, same batches; 'store only': the same import with those "
        "vectors served from a table (what the store itself costs).",
        "",
        "| notes | memories/s | embedding only /s | store only /s (vectors given) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for n, (label, texts) in enumerate(sets.items()):
        cached = TableEmbedder(embedder.embed)
        start = time.perf_counter()
        for i in range(0, count, 64):
            chunk = texts[i : i + 64]
            cached.table.update(zip(chunk, embedder.embed(chunk), strict=True))
        embed_s = time.perf_counter() - start
        items = [NewMemory(t, source=Source.IMPORT) for t in texts]
        store = MemoryStore.open(workdir / f"import{n}", embedder)
        start = time.perf_counter()
        store.add(items, progress=progress(label))
        seconds = time.perf_counter() - start
        store.close()
        store = MemoryStore.open(workdir / f"import{n}-store-only", cached)
        start = time.perf_counter()
        store.add(items)
        store_s = time.perf_counter() - start
        store.close()
        lines.append(
            f"| {label} | {count / seconds:.0f} | {count / embed_s:.0f} | {count / store_s:.0f} |"
        )
    single = timed(lambda i: embedder.embed(["what is my dog called?"]), 50)[1]
    lines += [
        "",
        f'One query embedding ("what is my dog called?"): p50 {pct(single, 0.5):.2f} ms',
        "",
    ]
    return lines


def _versions() -> str:
    from importlib.metadata import version

    return ", ".join(f"{p} {version(p)}" for p in ("sqlite-vec", "usearch", "apsw"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--million", action="store_true", help="also 1,000,000 (slow build)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--import-count", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1, help="embedding threads")
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the report (Markdown) here")
    args = parser.parse_args()
    sizes = [*args.sizes, *([1_000_000] if args.million else [])]
    lines = [
        f"## Memory search benchmark ({time.strftime('%Y-%m-%d')})",
        "",
        f"`scripts/bench_memory.py {' '.join(sys.argv[1:])}` on {platform.machine()}, "
        f"Python {platform.python_version()}, {_versions()}; graph: usearch HNSW f16, M=16, "
        "ef_add=128, ef_search=64, 40 candidates re-ranked exactly in SQLite",
        "",
    ]
    workdir = Path(tempfile.mkdtemp(prefix="secondself-bench-"))
    try:
        for n in sizes:
            lines += bench_size(n, args.queries, workdir)
            print("\n".join(lines[-14:]), file=sys.stderr)
        if not args.skip_import:
            lines += bench_import(args.import_count, workdir, args.threads)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
