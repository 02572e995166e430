#!/usr/bin/env python3
"""Benchmark the memory store: search latency and recall at 10k/100k (1M with --million),
against sqlite-vec brute force and numpy brute force in the same run, and the bulk import
rate with the real embedder (before/after the embedder shares out its threads).

Data: synthetic, clustered 384-d vectors (each topic a random centre plus variation in a
64-dimensional random subspace, about 2.8 times the centre's length, a little isotropic
noise, L2-normalised), one synthetic text per vector drawn from its topic's words and a
shared Zipfian vocabulary. Queries are fresh samples from the same topics. This is a hard
case for a graph index: unrelated topics are all about equally far (cosine 0 +- 0.05) and
a query's true top-10 are only about 0.3 similar to it, so a search has little to steer by
(at 1M, M=16 finds about half of the true top-10, see graph.py).

    .venv/bin/python scripts/bench_memory.py                 # 10k and 100k, then import
    .venv/bin/python scripts/bench_memory.py --sizes 10000   # quicker
    .venv/bin/python scripts/bench_memory.py --sizes --million --skip-import   # 1M only
    .venv/bin/python scripts/bench_memory.py --sizes 100000 --sweep 64 128 256  # ef_search
    .venv/bin/python scripts/bench_memory.py --sizes --import-count 2000       # import only
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import apsw
import numpy as np
import sqlite_vec
from numpy.typing import NDArray

from secondself.core.protocols import Embedder
from secondself.memory import graph, supersede, vectors
from secondself.memory.filters import condition
from secondself.memory.index import GRAPH_MIN
from secondself.memory.model import Kind, NewMemory, Origin, SearchFilter
from secondself.memory.store import MemoryStore
from secondself.memory.write import SUPERSEDE_KINDS

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
        self.common_p = 1.0 / np.arange(1, 5001)  # shared words: _word(0 .. 4999)
        self.common_p /= self.common_p.sum()

    def sample(self, n: int) -> tuple[Matrix, NDArray[np.int64]]:
        topic = self.rng.integers(0, self.topics, n)
        z = self.rng.standard_normal((n, RANK), dtype=np.float32) * 0.35
        x = self.centres[topic]
        x += 0.04 * self.rng.standard_normal((n, DIMS), dtype=np.float32)
        # One small matmul per topic (a per-row gather of its basis is 100 KB a row: slow).
        order = np.argsort(topic, kind="stable")
        for rows in np.split(order, np.flatnonzero(np.diff(topic[order])) + 1):
            x[rows] += z[rows] @ self.bases[topic[rows[0]]]
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x, topic

    def texts(self, topics: NDArray[np.int64], words: int) -> list[str]:
        """One text per topic: 60 % the topic's own (Zipfian) words, the rest shared ones."""
        n = len(topics)
        own = 100_000 + topics[:, None] * 40 + self.rng.zipf(1.5, (n, words)) % 40
        shared = self.rng.choice(len(self.common_p), (n, words), p=self.common_p)
        ids = np.where(self.rng.random((n, words)) < 0.6, own, shared)
        vocab = {int(i): _word(int(i)) for i in np.unique(ids)}
        return [" ".join(vocab[i] for i in row) for row in ids.tolist()]


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


@contextlib.contextmanager
def search_beam(ef: int) -> Iterator[None]:
    """Every graph searches with this ef_search for the duration (a sweep on one build)."""
    names = ("EXPANSION_SEARCH", "EXPANSION_SEARCH_MEDIUM", "EXPANSION_SEARCH_LARGE")
    saved = {name: getattr(graph, name) for name in names}
    for name in names:
        setattr(graph, name, ef)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(graph, name, value)


def bench_size(n: int, queries: int, workdir: Path, sweep: Sequence[int] = ()) -> list[str]:
    print(f"\n== {n:,} memories ==", file=sys.stderr)
    data = Synthetic(n)
    x, topics = data.sample(n)
    q, q_topics = data.sample(queries)
    embedder = TableEmbedder()
    texts = [f"{t} n{_word(i)}" for i, t in enumerate(data.texts(topics, 10))]
    for text, vec in zip(texts, x, strict=True):
        embedder.table[text] = vec
    qtexts = data.texts(q_topics, 4)

    user = workdir / f"u{n}"
    start = time.perf_counter()
    # Load without a graph (one durable transaction per 5,000), then build it with every core.
    store = MemoryStore.open(user, embedder, graph_min=10**12)
    items = [
        NewMemory(t, kind=Kind.DOCUMENT_CHUNK, source=Origin.IMPORT, check_supersede=False)
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
    swept = []
    for ef in sweep:
        with search_beam(ef):
            found, t = timed(lambda i: [m for m, _ in store.search_vector(q[i], where, K)], queries)
        swept.append((f"this store: k-NN with ef_search={ef}", t, recall(found, truth_ids)))
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
        *swept,
        ("this store: hybrid search (k-NN + BM25 + fusion)", hyb_t, None),
        ("sqlite-vec brute force (vec_distance_l2 scan, filtered)", sv_t, recall(sv, truth_ids)),
        ("sqlite-vec vec0 KNN brute force (float, cosine)", v0_t, recall(v0, truth_ids)),
        ("numpy brute force (float32 matmul)", np_t, recall(np_found, truth_ids)),
    ]
    lines = [
        f"### {n:,} memories",
        "",
        f"load {load_s:.1f} s (SQLite + FTS5, no embedding), graph build {graph_s:.1f} s "
        f"(M={graph.connectivity_for(n)}, every core); "
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


# Words for notes with English-like token counts (WordPiece splits the long ones).
NOTE_WORDS = (
    "the a and to of in that it is was for on with as I my we you he she they at be this "
    "have from or had by not but what all were when there can an your which their said if "
    "will each about how up out them then many some so these would other into has more two "
    "time could people than first been who its now long down day did get come made may part "
    "garden kitchen meeting sister brother doctor appointment Tuesday Wednesday February "
    "plumber electrician invoice mortgage renovation neighbour allotment tomatoes courgettes "
    "rehearsal orchestra violin spreadsheet quarterly presentation deadline colleague "
    "Manchester Edinburgh holiday passport insurance vaccination prescription physiotherapy "
    "birthday anniversary restaurant reservation recipe sourdough fermentation thermostat "
    "boiler radiator bicycle puncture library overdue recommendation interview pension "
    "grandmother photographs wedding ceremony broadband password router subscription "
    "cancelled refund delivery parcel warehouse pharmacy dentist"
).split()


def paragraph(rng: np.random.Generator, low: int, high: int) -> str:
    """low..high words in sentences of 8-19 words."""
    words = [str(w) for w in rng.choice(NOTE_WORDS, int(rng.integers(low, high + 1)))]
    sentences = []
    while words:
        cut = int(rng.integers(8, 20))
        sentence = " ".join(words[:cut])
        sentences.append(sentence[0].upper() + sentence[1:] + ".")
        words = words[cut:]
    return " ".join(sentences)


def notes_folder(folder: Path, chunks: int, rng: np.random.Generator) -> None:
    """Markdown files of 3-11 paragraphs (40-120 words each) under a heading."""
    folder.mkdir(parents=True)
    made = 0
    while made < chunks:
        k = min(int(rng.integers(3, 12)), chunks - made)
        body = [f"# Note {made}", *(paragraph(rng, 40, 120) for _ in range(k))]
        (folder / f"note{made:06d}.md").write_text("\n\n".join(body) + "\n", encoding="utf-8")
        made += k


def bench_import(count: int, workdir: Path, threads: int, rounds: int) -> list[str]:
    from secondself.core.paths import models_dir
    from secondself.memory import importer
    from secondself.memory.embedding import LlamaEmbedder
    from secondself.weights.manifest import ModelStore

    path = ModelStore(models_dir()).path("all-minilm-l6-v2")
    modes = {  # before: one llama.cpp context with every thread; after: one context a thread
        "before": LlamaEmbedder(path, threads=threads, share_out=False),
        "after": LlamaEmbedder(path, threads=threads),
    }
    rng = np.random.default_rng(1)
    people = ["my sister", "the plumber", "our neighbour", "my manager", "the vet", "Grandma"]
    things = ["the bins go out", "the car service is", "the party is", "the book is due"]
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "the 3rd", "the 21st"]
    attributes = ["phone number", "email", "car", "address", "birthday"]
    folder = workdir / "notes"
    notes_folder(folder, count // 4, rng)
    sets: dict[str, list[NewMemory]] = {
        "short notes (~8 words)": [
            NewMemory(f"{rng.choice(things)} on {rng.choice(days)} ({i})", source=Origin.IMPORT)
            for i in range(count)
        ],
        "longer notes (~16 words)": [
            NewMemory(
                f"{rng.choice(people)} reminded me that {rng.choice(things)} on "
                f"{rng.choice(days)} and {rng.choice(people)} will bring the cake (note {i})",
                source=Origin.IMPORT,
            )
            for i in range(count)
        ],
        # 3,500 possible subjects: about a quarter of the facts update an earlier one.
        "facts (~6 words, each checked for an older value)": [
            NewMemory(
                f"{_word(int(rng.integers(700))).title()}'s {rng.choice(attributes)} is {_word(i)}",
                source=Origin.IMPORT,
            )
            for i in range(count)
        ],
        # What `secondself import FOLDER` saves: chunks with file and line provenance.
        "Markdown paragraphs (40-120 words, `import` of a folder)": importer.plan(
            folder, "personal"
        ).items,
    }
    lines = [
        "### Bulk import with the real embedder",
        "",
        f"`MemoryStore.add` (what `secondself import` calls) into an empty store: MiniLM-L6 F16 "
        f"GGUF in llama.cpp with {threads} thread(s), SQLite + FTS5 (one durable transaction "
        "per 64), supersede check for notes and facts, graph index built on crossing 1,000 and "
        "kept in step. 'before': one llama.cpp context running every thread (how import "
        "embedded until now); 'after': one single-thread context per thread, sharing out "
        f"packed forward passes. Median of {rounds} interleaved rounds. 'embedding only': the "
        "same texts through the 'after' embedder alone; 'store only': the same import with "
        "those vectors served from a table.",
        "",
        "| notes | tokens/note | before /s | after /s | after/before | embedding only /s "
        "| store only /s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for embedder in modes.values():  # load the worker contexts, warm the caches
        embedder.embed([paragraph(rng, 6, 120) for _ in range(100)])
    run = 0
    for label, items in sets.items():
        texts = [it.text for it in items] + _probes(items)
        tokens = np.mean(modes["after"].token_counts([it.text for it in items]))
        rates: dict[str, list[float]] = {mode: [] for mode in modes}
        for _ in range(rounds):
            for mode, embedder in modes.items():
                run += 1
                with MemoryStore.open(workdir / f"import{run}", embedder) as store:
                    start = time.perf_counter()
                    store.add(items, progress=progress(f"{label}, {mode}"))
                    rates[mode].append(len(items) / (time.perf_counter() - start))
        cached = TableEmbedder(modes["after"].embed)
        start = time.perf_counter()
        for i in range(0, len(texts), 256):
            chunk = texts[i : i + 256]
            cached.table.update(zip(chunk, modes["after"].embed(chunk), strict=True))
        embed_rate = len(texts) / (time.perf_counter() - start)
        run += 1
        with MemoryStore.open(workdir / f"import{run}", cached) as store:
            start = time.perf_counter()
            store.add(items)
            store_rate = len(items) / (time.perf_counter() - start)
        before, after = (float(np.median(rates[m])) for m in modes)
        lines.append(
            f"| {label} | {tokens:.0f} | {before:.0f} | {after:.0f} | {after / before:.2f} "
            f"| {embed_rate:.0f} | {store_rate:.0f} |"
        )
    lines.append("")
    for mode, embedder in modes.items():
        single = _query_times(embedder)
        lines.append(f"One query embedding, {mode}: p50 {pct(single, 0.5):.2f} ms")
    return [*lines, ""]


def _query_times(embedder: Embedder) -> list[float]:
    return timed(lambda i: embedder.embed(["what is my dog called?"]), 50)[1]


def _probes(items: list[NewMemory]) -> list[str]:
    """The supersede probe texts the store embeds beside these items."""
    statements = [
        supersede.parse(it.text)
        for it in items
        if it.check_supersede and it.kind in SUPERSEDE_KINDS
    ]
    return [supersede.probe(st) for st in statements if st is not None]


def _versions() -> str:
    from importlib.metadata import version

    return ", ".join(f"{p} {version(p)}" for p in ("sqlite-vec", "usearch", "apsw"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--million", action="store_true", help="also 1,000,000 (slow build)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--import-count", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2, help="embedding threads")
    parser.add_argument("--rounds", type=int, default=3, help="import rounds per mode")
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument(
        "--sweep",
        type=int,
        nargs="*",
        default=[],
        metavar="EF",
        help="also time the k-NN with each of these ef_search values on the same graph",
    )
    parser.add_argument("--out", type=Path, help="also write the report (Markdown) here")
    args = parser.parse_args()
    sizes = [*args.sizes, *([1_000_000] if args.million else [])]
    lines = [
        f"## Memory search benchmark ({time.strftime('%Y-%m-%d')})",
        "",
        f"`scripts/bench_memory.py {' '.join(sys.argv[1:])}` on {platform.machine()}, "
        f"Python {platform.python_version()}, {_versions()}; graph: usearch HNSW "
        f"{graph.DTYPE}, M={graph.CONNECTIVITY} (M={graph.CONNECTIVITY_LARGE} when built with "
        f"{graph.LARGE:,} vectors or more), ef_add={graph.EXPANSION_ADD}, ef_search "
        f"{graph.EXPANSION_SEARCH} up to {graph.MEDIUM:,}, {graph.EXPANSION_SEARCH_MEDIUM} above "
        f"(M={graph.CONNECTIVITY}), {graph.EXPANSION_SEARCH_LARGE} (M={graph.CONNECTIVITY_LARGE}), "
        "40 candidates re-ranked exactly in SQLite; machine shared with other jobs",
        "",
    ]
    workdir = Path(tempfile.mkdtemp(prefix="secondself-bench-"))
    try:
        for n in sizes:
            lines += bench_size(n, args.queries, workdir, args.sweep)
            print("\n".join(lines[-14 - len(args.sweep) :]), file=sys.stderr)
        if not args.skip_import:
            lines += bench_import(args.import_count, workdir, args.threads, args.rounds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
