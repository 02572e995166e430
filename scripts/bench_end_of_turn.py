"""End of turn: silence alone (vad.trailing_silence_s) against Smart Turn v3, in one run.

    .venv/bin/python scripts/bench_end_of_turn.py [--voices 4]

Complete sentences and hesitant ones (a first part that trails off, "Remember that my dog is
called, um", then a pause of 0.5-1.5 s, then the rest) are made here with piper and
espeak-ng (never committed), and each is fed to the daemon's own Listener (real Silero VAD,
real turn model, the configured settings) frame by frame, once per configuration. Real time
is replayed from the measured cost of every frame: frame k arrives at (k + 1) * 80 ms and is
handled once the frames before it are, so a model call that takes 150 ms delays the decision
as it would live. Reported: end of speech (the last loud 20 ms of the utterance) -> end-of-
turn decision (Heard) and -> answer work starting (Paused or Heard), p50/p95; how often a
hesitant utterance was cut off (heard before its second part began); the model's calls and
their cost; and the listener's CPU per second of audio while idle, with the model loaded.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import soundfile

from secondself.core.config import load_config
from secondself.core.paths import models_dir
from secondself.core.protocols import FRAME_SAMPLES, SAMPLE_RATE, Audio, EndOfTurn
from secondself.voice.listener import FRAME_S, Heard, Listener, ListenerSettings, Paused
from secondself.voice.resample import resample
from secondself.voice.smart_turn import load_turn_model
from secondself.voice.vad import load_vad
from secondself.weights.manifest import ModelStore

COMPLETE = [
    "Remember that my dog is called Biscuit.",
    "What can Pepper not eat?",
    "Set a timer for ten minutes.",
    "What is the weather like tomorrow?",
    "Remember that Ines lives in Aberystwyth.",
    "When is my dentist appointment?",
    "Tell me what I did last weekend.",
    "Remind me to call Saoirse on Friday.",
    "Where did I put my passport?",
    "Turn the music down a little.",
    "What did the doctor say about my knee?",
    "Remember that the spare key is under the blue pot.",
]
HESITANT = [
    ("Remember that my dog is called, um", "Biscuit."),
    ("What can, uh", "Pepper not eat?"),
    ("Remind me to buy, erm", "milk and eggs."),
    ("So I was thinking that we could", "go to the beach on Sunday."),
    ("My sister's name is, um", "Ines."),
    ("Remember that the spare key is under the", "blue pot."),
    ("When did I last, uh", "water the plants?"),
    ("The thing I wanted to ask was, um", "where my passport is."),
    ("Can you remind me about the, erm", "meeting with Saoirse?"),
    ("Remember that our cat is allergic to", "chicken."),
    ("What was the name of the, uh", "restaurant in Aberystwyth?"),
    ("I need to, um", "pick up the kids at four."),
]
ESPEAK_VOICES = ["en-us", "en-gb", "en-us+f3", "en-gb-scotland", "en-029"]
SLOW_S = 1.0  # a complete sentence decided later than this was heard as unfinished
LOUD_RMS = 300  # a 20 ms frame louder than this is speech, for the end-of-speech clock


class DeafWakeWord:
    """The turns are started with `listen_now`: no wake word is needed."""

    name = "none"

    def process(self, frame: Audio) -> float:
        return 0.0

    def reset(self) -> None:
        pass


class TimedTurn:
    """The real turn model, timed call by call."""

    def __init__(self, model: EndOfTurn) -> None:
        self.model = model
        self.seconds: list[float] = []

    def complete_probability(self, audio: Audio) -> float:
        start = time.perf_counter()
        probability = self.model.complete_probability(audio)
        self.seconds.append(time.perf_counter() - start)
        return probability


@dataclass(frozen=True)
class Utterance:
    kind: str  # "complete" | "hesitant"
    voice: str
    audio: Audio
    speech_end_s: float  # the last loud 20 ms, from the start of `audio`
    second_part_s: float  # hesitant: where the words after the pause begin (else inf)


def voices(store: ModelStore, count: int) -> dict[str, Callable[[str], Audio]]:
    from piper import PiperVoice, SynthesisConfig

    piper = PiperVoice.load(str(store.path("en_US-joe-medium")))
    steady = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)

    def say_piper(text: str) -> Audio:
        chunks = list(piper.synthesize(text, syn_config=steady))
        audio = np.concatenate([c.audio_int16_array for c in chunks])
        return resample(audio, chunks[0].sample_rate, SAMPLE_RATE)

    def espeak(voice: str) -> Callable[[str], Audio]:
        def say(text: str) -> Audio:
            with tempfile.NamedTemporaryFile(suffix=".wav") as out:
                subprocess.run(["espeak-ng", "-v", voice, "-w", out.name, text], check=True)
                audio, rate = soundfile.read(out.name, dtype="int16")
            return resample(audio, rate, SAMPLE_RATE)

        return say

    found: dict[str, Callable[[str], Audio]] = {"piper joe": say_piper}
    for voice in ESPEAK_VOICES[: max(0, count - 1)]:
        found[f"espeak-ng {voice}"] = espeak(voice)
    return found


def last_loud_s(audio: Audio) -> float:
    frame = SAMPLE_RATE // 50
    n = audio.size // frame
    rms = np.sqrt((audio[: n * frame].astype(np.float32).reshape(n, frame) ** 2).mean(axis=1))
    loud = np.flatnonzero(rms > LOUD_RMS)
    return float((loud[-1] + 1) * frame / SAMPLE_RATE) if loud.size else 0.0


def utterances(say_by_voice: dict[str, Callable[[str], Audio]]) -> list[Utterance]:
    lead, tail = np.zeros(SAMPLE_RATE // 2, np.int16), np.zeros(3 * SAMPLE_RATE, np.int16)
    made: list[Utterance] = []
    for voice, say in say_by_voice.items():
        for text in COMPLETE:
            audio = np.concatenate([lead, say(text)])
            made.append(Utterance("complete", voice, np.concatenate([audio, tail]),
                                  last_loud_s(audio), float("inf")))  # fmt: skip
        for index, (first, second) in enumerate(HESITANT):
            pause = np.zeros(int((0.5 + 0.25 * (index % 5)) * SAMPLE_RATE), np.int16)
            head = np.concatenate([lead, say(first)])
            start = (head.size + pause.size) / SAMPLE_RATE
            audio = np.concatenate([head, pause, say(second)])
            made.append(Utterance("hesitant", voice, np.concatenate([audio, tail]),
                                  last_loud_s(audio), start))  # fmt: skip
    return made


@dataclass
class Outcome:
    heard_s: float  # replayed wall time of the decision, from the start of the audio
    work_s: float  # replayed wall time the answer work starts (Paused or Heard)
    heard_audio_s: float  # the same decision in audio time (no compute)


def replay(listener: Listener, audio: Audio) -> Outcome:
    """Feed every frame, replaying real time from each frame's measured cost."""
    listener.listen_now(timeout_s=4.0)
    done = 0.0
    work = float("nan")
    for index in range(audio.size // FRAME_SAMPLES):
        frame = audio[index * FRAME_SAMPLES : (index + 1) * FRAME_SAMPLES]
        start = time.perf_counter()
        signals = listener.feed(frame)
        cost = time.perf_counter() - start
        done = max(done, (index + 1) * FRAME_S) + cost
        if any(isinstance(s, Paused) for s in signals) and np.isnan(work):
            work = done
        if any(isinstance(s, Heard) for s in signals):
            listener.go_idle()
            return Outcome(done, work if not np.isnan(work) else done, (index + 1) * FRAME_S)
    listener.go_idle()
    return Outcome(float("inf"), float("inf"), float("inf"))


def percentiles(values: list[float]) -> str:
    values = [v for v in values if np.isfinite(v)]  # a turn never heard is counted apart
    if not values:
        return "     -       -"
    p50, p95 = np.percentile(np.array(values) * 1000, [50, 95])
    return f"{p50:6.0f}  {p95:6.0f}"


def idle_cost(listener: Listener, audio: Audio) -> float:
    """ms of CPU per second of audio while idle (waiting for a wake word)."""
    start = time.process_time()
    for index in range(audio.size // FRAME_SAMPLES):
        listener.feed(audio[index * FRAME_SAMPLES : (index + 1) * FRAME_SAMPLES])
    return (time.process_time() - start) * 1000 / (audio.size / SAMPLE_RATE)


def report(name: str, made: list[Utterance], outcomes: list[Outcome]) -> None:
    pairs = list(zip(made, outcomes, strict=True))
    complete = [(u, o) for u, o in pairs if u.kind == "complete"]
    hesitant = [(u, o) for u, o in pairs if u.kind == "hesitant"]
    cut = [(u, o) for u, o in hesitant if o.heard_audio_s < u.second_part_s]
    slow = [(u, o) for u, o in complete if o.heard_audio_s - u.speech_end_s > SLOW_S]
    whole = [(u, o) for u, o in hesitant if o.heard_audio_s >= u.second_part_s]
    print(f"{name:28s}"
          f"{percentiles([o.heard_s - u.speech_end_s for u, o in complete])}  "
          f"{percentiles([o.work_s - u.speech_end_s for u, o in complete])}  "
          f"{percentiles([o.heard_s - u.speech_end_s for u, o in whole])}  "
          f"{len(cut):3d} of {len(hesitant)} ({100 * len(cut) / max(1, len(hesitant)):.0f} %)"
          f"{len(slow):6d} of {len(complete)}"
          f"{missed_note(outcomes)}")  # fmt: skip


def missed_note(outcomes: list[Outcome]) -> str:
    missed = sum(not np.isfinite(o.heard_s) for o in outcomes)
    return f"  ({missed} never heard)" if missed else ""


def print_header(made: list[Utterance], settings: ListenerSettings) -> None:
    voices_used = sorted({u.voice for u in made})
    print(f"{sum(u.kind == 'complete' for u in made)} complete and "
          f"{sum(u.kind == 'hesitant' for u in made)} hesitant utterances, voices: "
          f"{', '.join(voices_used)}")  # fmt: skip
    print(f"trailing silence {settings.endpoint.trailing_silence_s} s; turn model: finished "
          f"{settings.turn.complete_silence_s} s, unfinished {settings.turn.incomplete_silence_s}"
          f" s, threshold {settings.turn.threshold}; speculation after "
          f"{settings.speculate_after_s} s")  # fmt: skip
    print("end of speech ->            complete: decision   work starts   hesitant: decision"
          f"   hesitant cut off  complete > {SLOW_S:.0f} s")  # fmt: skip
    print(" " * 28 + "  p50 ms  p95 ms  p50 ms  p95 ms  p50 ms  p95 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--voices", type=int, default=4, help="piper and espeak-ng voices")
    args = parser.parse_args()
    config = load_config()
    store = ModelStore(models_dir(config.models.dir))
    made = utterances(voices(store, args.voices))
    vad = load_vad(store)
    model = TimedTurn(load_turn_model(store, config.turn.model or "smart-turn-v3"))
    settings = ListenerSettings.from_config(config)
    silence_only = Listener(DeafWakeWord(), vad, settings)
    with_model = Listener(DeafWakeWord(), vad, settings, turn=model)
    runs: dict[str, list[Outcome]] = {"silence only": [], "smart turn": []}
    for utterance in made:  # interleaved, so machine load falls on both alike
        runs["silence only"].append(replay(silence_only, utterance.audio))
        runs["smart turn"].append(replay(with_model, utterance.audio))
    print_header(made, settings)
    for name, outcomes in runs.items():
        report(name, made, outcomes)
    calls = np.array(model.seconds) * 1000
    print(
        f"turn model: {calls.size} calls for {len(made)} utterances, "
        f"{np.percentile(calls, 50):.0f} ms p50, {np.percentile(calls, 95):.0f} ms p95 each"
    )
    rng = np.random.default_rng(1)
    room = np.concatenate([rng.normal(0, 200, SAMPLE_RATE * 10).astype(np.int16),
                           made[0].audio] * 3)  # fmt: skip
    before = len(model.seconds)
    idle = {name: idle_cost(listener, room) for name, listener in
            (("silence only", silence_only), ("smart turn", with_model))}  # fmt: skip
    print("idle listening (noise and speech, no wake word), VAD + turn-taking: "
          + ", ".join(f"{n} {ms:.1f} ms CPU per s of audio" for n, ms in idle.items())
          + f"; turn model calls while idle: {len(model.seconds) - before}")  # fmt: skip


if __name__ == "__main__":
    main()
