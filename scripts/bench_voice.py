"""Latency of a spoken question: end of speech -> first reply audio, streamed vs naive.

Both pipelines use the same loaded models, interleaved question by question in one run
(the machine is shared and noisy: compare the ratio, not absolute numbers):
- streamed: the daemon's Conversation (answer streamed sentence by sentence into piper);
- naive: whole transcript, then the whole answer, then the whole reply synthesized.
"First audio" is when the first synthesized audio is handed to the speaker. The clock starts
when the endpointer declares the utterance over (the trailing silence, `vad.trailing_silence_s`,
comes on top and is reported separately).

    .venv/bin/python scripts/bench_voice.py [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from secondself.answer import build_messages
from secondself.bus import Bus
from secondself.config import load_config
from secondself.conversation import Conversation, TurnSettings
from secondself.memory.store import MemoryStore
from secondself.models import ModelStore
from secondself.paths import models_dir
from secondself.pipeline import Pipeline, load_pipeline
from secondself.protocols import Speech
from secondself.recall import PersonaMemory
from secondself.resample import resample

MEMORIES = [
    "my dog is called Biscuit",
    "Anna's birthday is on the 3rd of May",
    "the spare key is under the blue pot",
    "I parked the car on level 3 of the station garage",
    "the wifi password is tulip42",
    "my dentist is Doctor Patel on Hill Street",
    "the recycling goes out on Tuesday evenings",
    "my passport is in the top drawer of the desk",
    "Sam is allergic to peanuts",
    "the boiler service is booked for the 14th of March",
]
QUESTIONS = [
    "What is my dog's name?",
    "When is Anna's birthday?",
    "Where is the spare key?",
    "Where did I park the car?",
    "What is the wifi password?",
    "Who is my dentist?",
    "When does the recycling go out?",
    "Where is my passport?",
    "What is Sam allergic to?",
    "When is the boiler service?",
    "What is my dog called?",
    "When was Anna born?",
    "Where did I put the key?",
    "Which level is the car on?",
    "What's the password for the wifi?",
    "Where is my dentist?",
    "Which day is recycling?",
    "Which drawer is my passport in?",
    "Is Sam allergic to anything?",
    "When is the boiler being serviced?",
]


class FirstAudioSpeaker:
    """Notes when the first audio arrives; plays nothing (latency, not playback, is measured)."""

    def __init__(self) -> None:
        self.first: float | None = None

    def play(self, speech: Speech) -> None:
        if self.first is None:
            self.first = time.perf_counter()

    def stop(self) -> None:
        pass


def streamed(pipeline: Pipeline, memory: PersonaMemory, audio: np.ndarray) -> dict[str, float]:
    speaker = FirstAudioSpeaker()
    conversation = Conversation(
        Bus(), pipeline.stt, memory, pipeline.answerer, pipeline.synth, speaker, TurnSettings()
    )
    start = time.perf_counter()
    result = asyncio.run(conversation.turn(audio))
    assert speaker.first is not None, result
    stages = {k: v for k, v in result.timings_ms.items() if k in ("stt", "memory", "first_token")}
    return {"first_audio": (speaker.first - start) * 1000, **stages}


def naive(pipeline: Pipeline, memory: PersonaMemory, audio: np.ndarray) -> dict[str, float]:
    start = time.perf_counter()
    text = pipeline.stt.transcribe(audio)
    sources = memory.recall(text, 5)
    reply = "".join(pipeline.answerer.stream(build_messages(text, sources), 96))
    pipeline.synth.synthesize(reply)
    return {"first_audio": (time.perf_counter() - start) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    config = load_config()
    store = ModelStore(models_dir(config.models.dir))
    pipeline = load_pipeline(config, store, Bus())
    home = Path(tempfile.mkdtemp(prefix="secondself-bench-"))
    memories = MemoryStore.open(home, pipeline.embedder)
    try:
        for text in MEMORIES:
            memories.remember(text)
        memory = PersonaMemory(memories, "personal")
        rate = pipeline.synth.sample_rate
        spoken = [resample(pipeline.synth.synthesize(q), rate, 16000) for q in QUESTIONS]
        streamed(pipeline, memory, spoken[0])  # warm both paths once
        naive(pipeline, memory, spoken[0])
        fast: list[dict[str, float]] = []
        slow: list[dict[str, float]] = []
        for _ in range(args.rounds):
            for audio in spoken:
                fast.append(streamed(pipeline, memory, audio))
                slow.append(naive(pipeline, memory, audio))
    finally:
        memories.close()
        shutil.rmtree(home, ignore_errors=True)

    def pct(values: list[float], q: float) -> float:
        return float(np.percentile(values, q))

    first = [r["first_audio"] for r in fast]
    base = [r["first_audio"] for r in slow]
    print(f"{len(first)} spoken questions, {config.llm.model}, llm threads {config.llm.threads}")
    print(f"{'':24}{'p50 ms':>10}{'p95 ms':>10}")
    print(f"{'streamed (daemon)':24}{pct(first, 50):10.0f}{pct(first, 95):10.0f}")
    print(f"{'naive sequential':24}{pct(base, 50):10.0f}{pct(base, 95):10.0f}")
    print(f"speed-up at p50: {pct(base, 50) / pct(first, 50):.2f}x")
    print("streamed, per stage (median ms):")
    for stage in ("stt", "memory", "first_token"):
        print(f"  {stage:12}{statistics.median(r[stage] for r in fast):8.0f}")
    silence_ms = config.vad.trailing_silence_s * 1000
    print(f"plus the trailing silence that ends an utterance: {silence_ms:.0f} ms")


if __name__ == "__main__":
    main()
