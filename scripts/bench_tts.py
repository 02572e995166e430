"""Piper's voice with and without ONNX Runtime's memory arena, on 1 and 2 threads.

Speed: every variant synthesizes the same sentences in every round, in a rotating order so
load from other processes hits them alike; the median seconds per sentence and the ratio to
piper's own way (arena, 2 threads) come from the same process. Memory: each variant runs
alone in a child process (resident memory is per process) over sentences of many lengths,
as a day of replies is, and reports its anonymous resident memory after them.

    .venv/bin/python scripts/bench_tts.py [--rounds 5] [--sentences 120]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np

from secondself.core.paths import models_dir
from secondself.service.heap import release_free_memory
from secondself.service.metrics import anonymous_rss_bytes
from secondself.voice.tts import PiperSynthesizer
from secondself.weights.manifest import ModelStore

VOICE = "en_US-joe-medium"
VARIANTS = {  # name: (arena, threads)
    "arena, 2 threads (piper's own)": (True, 2),
    "no arena, 2 threads": (False, 2),
    "no arena, 1 thread": (False, 1),
}
WORDS = (
    "my sister Anna drives a blue Volvo to the gym on Thursday while the neighbour's dog "
    "Pepper waits by the door and the doctor calls about the appointment next week"
).split()


def sentences(count: int, seed: int = 0) -> list[str]:
    """Sentences of 3 to 30 words: a new length nearly every time."""
    rng = np.random.default_rng(seed)
    return [
        " ".join(rng.choice(WORDS, int(rng.integers(3, 31)))).capitalize() + "."
        for _ in range(count)
    ]


def anonymous_mb() -> float:
    return anonymous_rss_bytes() / 2**20


def memory_child(variant: str, count: int) -> None:
    arena, threads = VARIANTS[variant]
    voice = PiperSynthesizer(ModelStore(models_dir()).path(VOICE), threads, arena=arena)
    loaded = anonymous_mb()
    after = []
    for i, text in enumerate(sentences(count, seed=1)):
        voice.synthesize(text)
        if i in (count // 2 - 1, count - 1):
            release_free_memory()  # as the daemon does every 30 s
            after.append(anonymous_mb())
    print(json.dumps({"loaded": loaded, "half": after[0], "end": after[1]}))


def memory(variant: str, count: int) -> dict[str, float]:
    child = [sys.executable, __file__, "--memory-child", variant, "--sentences", str(count)]
    out = subprocess.run(child, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def speed(rounds: int) -> dict[str, float]:
    store = ModelStore(models_dir())
    voices = {
        name: PiperSynthesizer(store.path(VOICE), threads, arena=arena)
        for name, (arena, threads) in VARIANTS.items()
    }
    texts = sentences(12, seed=2)
    for voice in voices.values():
        voice.synthesize(texts[0])  # warm-up
    times: dict[str, list[float]] = {name: [] for name in voices}
    names = list(voices)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            for text in texts:
                start = time.perf_counter()
                voices[name].synthesize(text)
                times[name].append(time.perf_counter() - start)
        print(f"round {r + 1}/{rounds}", file=sys.stderr)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sentences", type=int, default=120, help="for the memory runs")
    parser.add_argument("--memory-child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.sentences)
        return 0
    medians = speed(args.rounds)
    base = medians[next(iter(VARIANTS))]
    print(
        f"| variant | s per sentence (median) | x piper's own | anonymous MB loaded | "
        f"after {args.sentences // 2} | after {args.sentences} |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in VARIANTS:
        m = memory(name, args.sentences)
        print(
            f"| {name} | {medians[name]:.3f} | {medians[name] / base:.2f} | "
            f"{m['loaded']:.0f} | {m['half']:.0f} | {m['end']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
