#!/usr/bin/env python3
"""MiniLM-L6 embedding speed: llama.cpp F16 GGUF against ONNX Runtime fp32 and int8.

Converts the shipped safetensors to ONNX (`minilm_onnx.py` beside this script, timed) into
build/embed-onnx/, then embeds three text sets (the shapes of `bench_memory.py`'s import
sets) with every method in every round, rotating which goes first, so load from other
processes hits all alike; texts go in calls of 256, as `MemoryStore.add` makes them.
Prints medians, ratios against llama.cpp (2 threads) from the same run, and the cosine of
every row against llama.cpp's and against the fp32 graph's. A second table compares the
int8 variants (fused or not, per-channel, reduce_range) on one thread.

    .venv/bin/python scripts/onnx_experiment/bench_embed.py [--rounds 3] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench_memory
sys.path.insert(0, str(Path(__file__).resolve().parent))
import minilm_onnx
from bench_memory import paragraph  # the import benchmark's text shapes
from embed_onnx import OnnxEmbedder
from minilm_onnx import Quantization

from secondself.core.paths import models_dir
from secondself.core.protocols import Embedder
from secondself.memory.embedding import LlamaEmbedder
from secondself.weights.manifest import ModelStore

Matrix = NDArray[np.float32]
CALL = 256  # texts per embed call (store.EMBED_AHEAD)
QUERY = "what is my dog called?"
K = 10
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "embed-onnx"

# int8 variants: file stem -> how it is made.
VARIANTS = {
    "int8": Quantization(),  # the default: fused, per-channel, int8 weights
    "int8-unfused": Quantization(fused=False),
    "int8-pertensor": Quantization(per_channel=False),
    "int8-reducerange": Quantization(reduce_range=True),
    "int8-uint8weights": Quantization(signed=False),
}


@dataclass(frozen=True, slots=True)
class Files:
    gguf: Path
    weights: Path
    tokenizer: Path
    config: Path


def source_files() -> Files:
    store = ModelStore(models_dir())
    source = "all-minilm-l6-v2-source"
    return Files(
        gguf=store.path("all-minilm-l6-v2"),
        weights=store.path(source, 0),
        tokenizer=store.path(source, 1),
        config=store.path(source, 2),
    )


def convert(files: Files) -> tuple[dict[str, Path], list[str]]:
    """Every ONNX file the benchmark runs, with a line per step's time."""
    OUT.mkdir(parents=True, exist_ok=True)
    paths = {"fp32": OUT / "fp32.onnx", "fp32-fused": OUT / "fp32-fused.onnx"}
    notes = []
    start = time.perf_counter()
    minilm_onnx.convert(
        [files.weights, files.tokenizer, files.config], [paths["fp32"], OUT / "int8.onnx"]
    )
    notes.append(f"`minilm_onnx.convert` (fp32 graph, fuse, int8): {_since(start):.1f} s")
    shape = minilm_onnx.read_shape(files.config)
    start = time.perf_counter()
    model = minilm_onnx.build_model(minilm_onnx.load_weights(files.weights), shape)
    notes.append(f"fp32 graph alone (read weights, build, check): {_since(start):.1f} s")
    start = time.perf_counter()
    onnx.save(minilm_onnx.fuse(model, shape), str(paths["fp32-fused"]))
    notes.append(f"ORT BERT fusion + save: {_since(start):.1f} s")
    for stem, quantization in VARIANTS.items():
        paths[stem] = OUT / f"{stem}.onnx"
        if stem == "int8":
            continue  # made by convert above
        source = paths["fp32-fused"] if quantization.fused else paths["fp32"]
        start = time.perf_counter()
        minilm_onnx.quantize(source, paths[stem], quantization)
        notes.append(f"quantize {stem}: {_since(start):.1f} s")
    sizes = ", ".join(f"{k} {p.stat().st_size / 1e6:.1f} MB" for k, p in paths.items())
    notes.append(f"sizes: GGUF F16 {files.gguf.stat().st_size / 1e6:.1f} MB, {sizes}")
    return paths, notes


def _since(start: float) -> float:
    return time.perf_counter() - start


def text_sets(scale: float) -> dict[str, list[str]]:
    """bench_memory's short and longer notes, and its Markdown paragraphs."""
    rng = np.random.default_rng(1)
    people = ["my sister", "the plumber", "our neighbour", "my manager", "the vet", "Grandma"]
    things = ["the bins go out", "the car service is", "the party is", "the book is due"]
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "the 3rd", "the 21st"]
    short, longer, paragraphs = (max(8, int(n * scale)) for n in (256, 256, 64))
    return {
        "short notes (~8 words)": [
            f"{rng.choice(things)} on {rng.choice(days)} ({i})" for i in range(short)
        ],
        "longer notes (~16 words)": [
            f"{rng.choice(people)} reminded me that {rng.choice(things)} on "
            f"{rng.choice(days)} and {rng.choice(people)} will bring the cake (note {i})"
            for i in range(longer)
        ],
        "paragraphs (40-120 words)": [paragraph(rng, 40, 120) for _ in range(paragraphs)],
    }


def embed_all(embedder: Embedder, texts: Sequence[str]) -> Matrix:
    parts = [embedder.embed(texts[i : i + CALL]) for i in range(0, len(texts), CALL)]
    return np.concatenate(parts)


def interleaved(
    methods: dict[str, Embedder], texts: list[str], rounds: int
) -> tuple[dict[str, float], dict[str, Matrix]]:
    """Median texts/s per method, and each method's rows (from its last round)."""
    rates: dict[str, list[float]] = {m: [] for m in methods}
    rows: dict[str, Matrix] = {}
    names = list(methods)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            rows[name] = embed_all(methods[name], texts)
            rates[name].append(len(texts) / _since(start))
    return {m: statistics.median(v) for m, v in rates.items()}, rows


def query_p50(methods: dict[str, Embedder], count: int = 50) -> dict[str, float]:
    times: dict[str, list[float]] = {m: [] for m in methods}
    for _ in range(count):
        for name, embedder in methods.items():
            start = time.perf_counter()
            embedder.embed([QUERY])
            times[name].append(_since(start) * 1000)
    return {m: statistics.median(v) for m, v in times.items()}


def cosines(rows: Matrix, reference: Matrix) -> tuple[float, float]:
    """(min, mean) cosine of each row with the same text's reference row (both unit length)."""
    dots = np.sum(rows * reference, axis=1)
    return float(dots.min()), float(dots.mean())


def bench_main(
    files: Files, paths: dict[str, Path], sets: dict[str, list[str]], rounds: int
) -> list[str]:
    tok = files.tokenizer
    methods: dict[str, Embedder] = {
        "llama.cpp F16, 2 threads": LlamaEmbedder(files.gguf, threads=2),
        "llama.cpp F16, 1 thread": LlamaEmbedder(files.gguf, threads=1),
        "ORT fp32, 2 threads": OnnxEmbedder(paths["fp32"], tok, threads=2),
        "ORT fp32, 1 thread": OnnxEmbedder(paths["fp32"], tok, threads=1),
        "ORT int8, 2 threads": OnnxEmbedder(paths["int8"], tok, threads=2),
        "ORT int8, 1 thread": OnnxEmbedder(paths["int8"], tok, threads=1),
    }
    base, fp32 = "llama.cpp F16, 2 threads", "ORT fp32, 2 threads"
    _warm(methods)
    onnx_probe = methods[fp32]
    assert isinstance(onnx_probe, OnnxEmbedder)
    header = ["| method |"]
    rule = ["| --- |"]
    for label, texts in sets.items():
        tokens = np.mean([len(t) for t in onnx_probe.token_ids(texts)])
        header.append(f" {label}, {len(texts)} texts, {tokens:.0f} tokens: /s (x) |")
        rule.append(" ---: |")
    header.append(
        " query p50 ms (x) | cos vs llama.cpp min / mean | cos vs ORT fp32 min / mean "
        "| top-10 overlap vs llama.cpp |"
    )
    rule.append(" ---: | ---: | ---: | ---: |")
    cells: dict[str, list[str]] = {m: [] for m in methods}
    all_rows: dict[str, list[Matrix]] = {m: [] for m in methods}
    for label, texts in sets.items():
        print(f"  {label} ...", file=sys.stderr, flush=True)
        rates, rows = interleaved(methods, texts, rounds)
        for m in methods:
            cells[m].append(f"{rates[m]:.0f} ({rates[m] / rates[base]:.2f})")
            all_rows[m].append(rows[m])
    print("  query ...", file=sys.stderr, flush=True)
    query = query_p50(methods)
    stacked = {m: np.concatenate(v) for m, v in all_rows.items()}
    questions = search_queries()
    found = {m: top_k(embedder.embed(questions), stacked[m]) for m, embedder in methods.items()}
    lines = ["".join(header), "".join(rule)]
    for m in methods:
        vs_llama = cosines(stacked[m], stacked[base])
        vs_fp32 = cosines(stacked[m], stacked[fp32])
        overlap = np.mean(
            [len(set(a) & set(b)) / K for a, b in zip(found[m], found[base], strict=True)]
        )
        lines.append(
            f"| {m} | {' | '.join(cells[m])} | {query[m]:.2f} ({query[m] / query[base]:.2f}) "
            f"| {vs_llama[0]:.5f} / {vs_llama[1]:.5f} | {vs_fp32[0]:.5f} / {vs_fp32[1]:.5f} "
            f"| {overlap:.3f} |"
        )
    lines += [
        "",
        f"Top-10 overlap: {len(questions)} questions searched, by each method's own vectors, "
        f"among all {len(stacked[base])} texts above; the share of llama.cpp's top-10 found.",
    ]
    return lines


def search_queries(count: int = 60) -> list[str]:
    """Questions in the words of the notes, the kind `ask` embeds."""
    rng = np.random.default_rng(2)
    subjects = ["the bins", "the car service", "the party", "the book", "the cake", "my sister"]
    subjects += ["the plumber", "the doctor appointment", "the boiler", "the passport"]
    forms = ["when is {}?", "what did I say about {}?", "who is bringing {}?", "{} on Friday"]
    return [str(rng.choice(forms)).format(rng.choice(subjects)) for _ in range(count)]


def top_k(queries: Matrix, corpus: Matrix) -> list[list[int]]:
    best: list[list[int]] = np.argsort(-(queries @ corpus.T), axis=1)[:, :K].tolist()
    return best


def bench_variants(
    files: Files, paths: dict[str, Path], sets: dict[str, list[str]], rounds: int
) -> list[str]:
    """fp32 vs int8, fused or not, per-channel, reduce_range: one thread, ratios to fp32."""
    methods: dict[str, Embedder] = {
        stem: OnnxEmbedder(paths[stem], files.tokenizer, threads=1)
        for stem in ["fp32", "fp32-fused", *VARIANTS]
    }
    _warm(methods)
    picked = {k: v for k, v in sets.items() if not k.startswith("short")}
    lines = [
        "| ONNX file (1 thread) | "
        + " | ".join(f"{label} /s (x fp32)" for label in picked)
        + " | cos vs fp32 min / mean |",
        "| --- |" + " ---: |" * (len(picked) + 1),
    ]
    cells: dict[str, list[str]] = {m: [] for m in methods}
    all_rows: dict[str, list[Matrix]] = {m: [] for m in methods}
    for label, texts in picked.items():
        print(f"  variants, {label} ...", file=sys.stderr, flush=True)
        rates, rows = interleaved(methods, texts, rounds)
        for m in methods:
            cells[m].append(f"{rates[m]:.0f} ({rates[m] / rates['fp32']:.2f})")
            all_rows[m].append(rows[m])
    stacked = {m: np.concatenate(v) for m, v in all_rows.items()}
    for m in methods:
        low, mean = cosines(stacked[m], stacked["fp32"])
        lines.append(f"| {m} | {' | '.join(cells[m])} | {low:.5f} / {mean:.5f} |")
    return lines


def _warm(methods: dict[str, Embedder]) -> None:
    rng = np.random.default_rng(7)
    warm = [paragraph(rng, 6, 120) for _ in range(64)]
    for embedder in methods.values():
        embedder.embed(warm)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="texts per set, x 256/256/64")
    parser.add_argument("--skip-variants", action="store_true")
    args = parser.parse_args()
    import onnxruntime

    files = source_files()
    print("converting ...", file=sys.stderr, flush=True)
    paths, notes = convert(files)
    sets = text_sets(args.scale)
    lines = [
        f"## MiniLM-L6 embedding: llama.cpp vs ONNX Runtime ({time.strftime('%Y-%m-%d')})",
        "",
        f"`scripts/bench_embed.py {' '.join(sys.argv[1:])}` on {platform.machine()} "
        f"({os.cpu_count()} cores), onnxruntime {onnxruntime.__version__}; median of "
        f"{args.rounds} interleaved rounds, calls of {CALL} texts; (x) = ratio to llama.cpp F16 "
        "with 2 threads in the same run. Machine shared with other jobs.",
        "",
        *(f"- {note}" for note in notes),
        "",
        *bench_main(files, paths, sets, args.rounds),
    ]
    if not args.skip_variants:
        lines += ["", *bench_variants(files, paths, sets, args.rounds)]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
