"""Moonshine base-en (int8 ONNX) against Whisper tiny.en (CTranslate2 int8) on spoken commands.

Commands are spoken by the piper voice once, then both engines transcribe each of them in
every round, alternating which goes first, so load from other processes hits both alike.
Prints latency per command, the median per engine and their ratio, and word errors.

    .venv/bin/python scripts/bench_stt.py [--threads 1] [--rounds 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from secondself.core.paths import models_dir
from secondself.core.protocols import SAMPLE_RATE, Transcriber
from secondself.voice.resample import resample
from secondself.voice.stt import load_transcriber
from secondself.weights.manifest import ModelStore

COMMANDS = [
    "What is my dog's name?",
    "Remember that my dog is called Biscuit.",
    "Stop.",
    "Take a picture of the garden.",
    "Forget what I said about the meeting.",
    "When is my sister's birthday?",
    "Remind me where I parked the car.",
    "What did the doctor say about my knee last week?",
]
ENGINES = ("moonshine", "whisper")


@dataclass
class Result:
    seconds: list[float] = field(default_factory=list)
    text: str = ""


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)*", text.lower())


def word_errors(reference: list[str], heard: list[str]) -> int:
    """Substitutions + deletions + insertions (word-level Levenshtein distance)."""
    row = list(range(len(heard) + 1))
    for i, ref in enumerate(reference, 1):
        previous, row[0] = row[0], i
        for j, hyp in enumerate(heard, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ref != hyp))
    return row[-1]


def speak(store: ModelStore, texts: list[str]) -> list[NDArray[np.int16]]:
    from piper import PiperVoice

    voice = PiperVoice.load(str(store.path("en_US-joe-medium")))
    clips = []
    for text in texts:
        chunks = list(voice.synthesize(text))
        audio = np.concatenate([c.audio_int16_array for c in chunks])
        clips.append(resample(audio, chunks[0].sample_rate, SAMPLE_RATE))
    return clips


Results = dict[str, list[Result]]


def run(engines: dict[str, Transcriber], clips: list[NDArray[np.int16]], rounds: int) -> Results:
    results = {name: [Result() for _ in clips] for name in engines}
    for engine in engines.values():  # first calls pay for allocations: keep them out
        engine.transcribe(clips[0])
    for round_ in range(rounds):
        for index, clip in enumerate(clips):
            order = list(engines) if (round_ + index) % 2 == 0 else list(reversed(engines))
            for name in order:
                start = time.perf_counter()
                text = engines[name].transcribe(clip)
                results[name][index].seconds.append(time.perf_counter() - start)
                results[name][index].text = text
    return results


def report(results: Results, clips: list[NDArray[np.int16]]) -> None:
    names = list(results)
    columns = " ".join(f"{name + ' s':>11} {'err':>3}" for name in names)
    print(f"{'command':<50} {'audio s':>7} {columns}")
    errors = dict.fromkeys(names, 0)
    for index, command in enumerate(COMMANDS):
        cells = []
        for name in names:
            result = results[name][index]
            wrong = word_errors(words(command), words(result.text))
            errors[name] += wrong
            cells.append(f"{statistics.median(result.seconds):>11.3f} {wrong:>3}")
        print(f"{command:<50} {len(clips[index]) / SAMPLE_RATE:>7.2f} " + " ".join(cells))
    total_words = sum(len(words(c)) for c in COMMANDS)
    medians = {n: statistics.median(s for r in results[n] for s in r.seconds) for n in names}
    print()
    for name in names:
        print(
            f"{name:<10} median {medians[name]:.3f} s per command, "
            f"word errors {errors[name]}/{total_words}"
        )
    print(f"whisper / moonshine median latency: {medians['whisper'] / medians['moonshine']:.1f}x")
    for name in names:
        for command, result in zip(COMMANDS, results[name], strict=True):
            if word_errors(words(command), words(result.text)):
                print(f"  {name}: {command!r} -> {result.text!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--beam-size", type=int, default=1)
    args = parser.parse_args(argv)
    store = ModelStore(models_dir())
    clips = speak(store, COMMANDS)
    engines = {
        name: load_transcriber(store, name, args.threads, "whisper-tiny.en", args.beam_size)
        for name in ENGINES
    }
    print(
        f"{len(COMMANDS)} piper-spoken commands, {args.rounds} interleaved rounds, "
        f"{args.threads} thread(s), whisper beam {args.beam_size}\n"
    )
    report(run(engines, clips, args.rounds), clips)
    return 0


if __name__ == "__main__":
    sys.exit(main())
