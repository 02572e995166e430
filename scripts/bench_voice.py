"""Latency of a spoken question: end of speech -> first reply audio.

Each question ("Hey Jarvis, <question>") is fed to the voice loop in real time, 80 ms frame
by 80 ms frame, followed by silence, exactly as a microphone would deliver it. The clock
starts at the last loud frame of the question (the real end of speech) and stops when the
first synthesized audio reaches the speaker. Two pipelines, same loaded models, interleaved
question by question in one run (the machine is shared and noisy: compare the ratio):

- daemon: the voice loop as shipped: speculative turn after `vad.speculate_after_s` of
  silence, answer streamed sentence by sentence into piper;
- naive: wait for the endpoint, then the whole transcript, the whole answer, the whole
  reply synthesized.

    .venv/bin/python scripts/bench_voice.py [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from secondself.answer.prompt import build_messages
from secondself.answer.recall import PersonaMemory
from secondself.answer.turn import Conversation, TurnSettings
from secondself.core.bus import Bus
from secondself.core.config import load_config
from secondself.core.events import AnswerDone, Event, MemoriesRetrieved, Speaking, Transcript
from secondself.core.paths import models_dir
from secondself.core.protocols import FRAME_SAMPLES, SAMPLE_RATE, Audio, Speech
from secondself.memory.store import MemoryStore
from secondself.service.loading import Pipeline, load_pipeline
from secondself.voice.listener import Heard, Listener, ListenerSettings
from secondself.voice.loop import VoiceLoop
from secondself.voice.resample import resample
from secondself.weights.manifest import ModelStore

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
FRAME_S = FRAME_SAMPLES / SAMPLE_RATE


class FirstAudio:
    """A speaker that notes when the first audio arrives and plays nothing."""

    def __init__(self) -> None:
        self.first: float | None = None

    def play(self, speech: Speech) -> None:
        if self.first is None:
            self.first = time.monotonic()

    def stop(self) -> None:
        pass


def end_of_speech(audio: Audio) -> int:
    """Index of the frame after the last loud one."""
    frames = audio[: audio.size - audio.size % FRAME_SAMPLES].reshape(-1, FRAME_SAMPLES)
    loud = np.flatnonzero(np.sqrt((frames.astype(np.float32) ** 2).mean(axis=1)) > 500)
    return int(loud[-1]) + 1


async def paced(audio: Audio, marks: dict[str, float], last_loud: int) -> AsyncIterator[Audio]:
    """The recording in real time; notes when the last loud frame was delivered."""
    start = time.monotonic()
    for index in range(audio.size // FRAME_SAMPLES):
        await asyncio.sleep(max(0.0, start + index * FRAME_S - time.monotonic()))
        yield audio[index * FRAME_SAMPLES : (index + 1) * FRAME_SAMPLES]
        if index + 1 == last_loud:
            marks["speech_end"] = time.monotonic()


def daemon_turn(
    pipeline: Pipeline, memory: PersonaMemory, audio: Audio, settings: object
) -> dict[str, float]:
    speaker = FirstAudio()
    bus = Bus()
    stages: dict[str, float] = {}

    def watch(event: Event) -> None:
        if isinstance(event, Transcript):
            stages["stt"] = event.seconds * 1000
        elif isinstance(event, MemoriesRetrieved):
            stages["memory"] = event.seconds * 1000
        elif isinstance(event, AnswerDone):
            stages["backend"] = 1.0 if event.backend == "memory" else 0.0
            if event.backend == "local":  # a memory said directly has no model tokens
                stages["first_token"] = event.first_token_s * 1000
        elif isinstance(event, Speaking) and "tts" not in stages:
            stages["tts"] = event.synth_s * 1000

    bus.on(watch)
    conversation = Conversation(
        bus, pipeline.stt, memory, pipeline.answerer, pipeline.synth, speaker, TurnSettings()
    )
    listener = Listener(pipeline.wake, pipeline.vad, settings)  # type: ignore[arg-type]
    loop = VoiceLoop(bus, listener, conversation, pipeline.stt)
    marks: dict[str, float] = {}
    asyncio.run(loop.run(paced(audio, marks, end_of_speech(audio))))
    assert speaker.first is not None, "no reply"
    return {"first_audio": (speaker.first - marks["speech_end"]) * 1000, **stages}


def naive_turn(
    pipeline: Pipeline, memory: PersonaMemory, audio: Audio, settings: object
) -> dict[str, float]:
    listener = Listener(pipeline.wake, pipeline.vad, replace(settings, speculate_after_s=0))  # type: ignore[type-var]
    marks: dict[str, float] = {}
    first: float | None = None

    async def run() -> None:
        nonlocal first
        async for frame in paced(audio, marks, end_of_speech(audio)):
            for signal in listener.feed(frame):
                if isinstance(signal, Heard) and first is None:
                    text = pipeline.stt.transcribe(signal.audio)
                    sources = memory.recall(text, 5)
                    reply = "".join(pipeline.answerer.stream(build_messages(text, sources), 96))
                    pipeline.synth.synthesize(reply)
                    first = time.monotonic()

    asyncio.run(run())
    assert first is not None, "no reply"
    return {"first_audio": (first - marks["speech_end"]) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    config = load_config()
    pipeline = load_pipeline(config, ModelStore(models_dir(config.models.dir)), Bus())
    settings = ListenerSettings.from_config(config)
    home = Path(tempfile.mkdtemp(prefix="secondself-bench-"))
    store = MemoryStore.open(home, pipeline.embedder)
    rate = pipeline.synth.sample_rate
    silence = np.zeros(int(1.5 * SAMPLE_RATE), dtype=np.int16)
    try:
        for text in MEMORIES:
            store.remember(text)
        memory = PersonaMemory(store, "personal")
        spoken = [
            np.concatenate(
                [
                    silence[:8000],
                    resample(pipeline.synth.synthesize(f"Hey Jarvis, {q}"), rate, 16000),
                    silence,
                ]
            )
            for q in QUESTIONS
        ]
        daemon_turn(pipeline, memory, spoken[0], settings)  # warm both paths once
        naive_turn(pipeline, memory, spoken[0], settings)
        fast: list[dict[str, float]] = []
        slow: list[dict[str, float]] = []
        for _ in range(args.rounds):
            for audio in spoken:
                fast.append(daemon_turn(pipeline, memory, audio, settings))
                slow.append(naive_turn(pipeline, memory, audio, settings))
    finally:
        store.close()
        shutil.rmtree(home, ignore_errors=True)

    def pct(values: list[float], q: float) -> float:
        return float(np.percentile(values, q))

    first = [r["first_audio"] for r in fast]
    base = [r["first_audio"] for r in slow]
    print(f"{len(first)} spoken questions; llm {config.llm.model}, {config.llm.threads} thread(s); "
          f"trailing silence {config.vad.trailing_silence_s} s, "
          f"speculation after {config.vad.speculate_after_s} s")  # fmt: skip
    print("end of speech -> first reply audio")
    print(f"{'':28}{'p50 ms':>8}{'p95 ms':>8}")
    print(f"{'daemon (speculative, streamed)':28}{pct(first, 50):8.0f}{pct(first, 95):8.0f}")
    print(f"{'naive sequential':28}{pct(base, 50):8.0f}{pct(base, 95):8.0f}")
    print(f"daemon is {pct(base, 50) / pct(first, 50):.2f}x faster at p50")
    direct = sum(r.get("backend", 0.0) for r in fast)
    print(f"{direct:.0f} of {len(fast)} answers said straight from a memory, the rest by the model")
    print("daemon stages, median ms (stt and memory run during the trailing silence):")
    for stage in ("stt", "memory", "first_token", "tts"):
        values = [r[stage] for r in fast if stage in r]
        if values:
            print(f"  {stage:12}{statistics.median(values):8.0f}")
    model = [r["first_audio"] for r in fast if "first_token" in r]
    if model:
        print(f"model answers only: p50 {pct(model, 50):.0f} ms over {len(model)}")


if __name__ == "__main__":
    main()
