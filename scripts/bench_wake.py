"""What listening for several wake words costs against one (the household daemon).

The melspectrogram and embedding models run once per 80 ms frame whatever the number of wake
words; each wake word adds only its small classifier. Every round feeds the same speech
(spoken by the piper voice) to a model with 1, 2 and 4 wake words, in a rotating order so
load from other processes hits them alike, and prints the median CPU milliseconds per frame
and the ratio to one wake word.

    .venv/bin/python scripts/bench_wake.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from numpy.typing import NDArray

from secondself.core.paths import models_dir
from secondself.core.protocols import FRAME_SAMPLES, SAMPLE_RATE
from secondself.voice.resample import resample
from secondself.voice.wake import OpenWakeWord, load_wake_words
from secondself.weights.manifest import ModelStore

WORDS = ("hey_jarvis", "alexa", "hey_mycroft", "hey_marvin")
SETS = {1: WORDS[:1], 2: WORDS[:2], 4: WORDS}
SPEECH = (
    "Hey Jarvis, what is my dog's name? Alexa, when is the team meeting? "
    "Hey Mycroft, remember that the office wifi is called Quokka."
)


def speech(store: ModelStore) -> NDArray[np.int16]:
    from piper import PiperVoice

    voice = PiperVoice.load(str(store.path("en_US-joe-medium")))
    chunks = list(voice.synthesize(SPEECH))
    audio = np.concatenate([c.audio_int16_array for c in chunks])
    audio = resample(audio, chunks[0].sample_rate, SAMPLE_RATE)
    return np.pad(audio, (0, -len(audio) % FRAME_SAMPLES))


def cpu_ms_per_frame(wake: OpenWakeWord, frames: NDArray[np.int16]) -> float:
    wake.reset()
    start = time.process_time()
    for frame in frames:
        wake.process(frame)
    return (time.process_time() - start) * 1000 / len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    store = ModelStore(models_dir())
    frames = speech(store).reshape(-1, FRAME_SAMPLES)
    models = {n: load_wake_words(store, words) for n, words in SETS.items()}
    times: dict[int, list[float]] = {n: [] for n in SETS}
    order = list(SETS)
    for round_ in range(args.rounds):
        for n in order[round_ % len(order) :] + order[: round_ % len(order)]:
            times[n].append(cpu_ms_per_frame(models[n], frames))
    base = statistics.median(times[1])
    print(f"{len(frames)} frames of speech ({len(frames) * 0.08:.1f} s), {args.rounds} rounds")
    print("wake words | CPU ms per 80 ms frame (median) | x one wake word")
    for n in SETS:
        median = statistics.median(times[n])
        print(f"{n:10} | {median:31.2f} | {median / base:.2f}")


if __name__ == "__main__":
    main()
