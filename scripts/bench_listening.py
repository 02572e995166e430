"""What listening costs, all day: CPU of the wake word + VAD + turn-taking, and of the whole
daemon idling on a live (virtual) microphone; and the peak memory once every model is loaded
and a question has been answered.

    .venv/bin/python scripts/bench_listening.py [--seconds 60]

The offline part feeds the Listener recorded frames as fast as it can (CPU per second of
audio); the live part starts the daemon on the virtual sound card and measures this process's
CPU time over wall time while nobody speaks (PortAudio callback, ring buffer, wake word, VAD).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time

import numpy as np

from secondself.core.bus import Bus
from secondself.core.config import load_config
from secondself.core.paths import models_dir
from secondself.core.protocols import FRAME_SAMPLES, SAMPLE_RATE
from secondself.service.app import App
from secondself.service.loading import load_pipeline
from secondself.service.session import start_session
from secondself.voice.listener import Listener, ListenerSettings
from secondself.voice.microphone import Microphone
from secondself.voice.resample import resample
from secondself.voice.speaker import SoundDeviceSpeaker
from secondself.voice.virtual_soundcard import VirtualSoundCard
from secondself.weights.manifest import ModelStore


def offline_cost(listener: Listener, audio: np.ndarray) -> float:
    """ms of CPU per second of audio."""
    frames = [
        audio[i : i + FRAME_SAMPLES] for i in range(0, audio.size - FRAME_SAMPLES, FRAME_SAMPLES)
    ]
    start = time.process_time()
    for frame in frames:
        listener.feed(frame)
    return (time.process_time() - start) * 1000 / (len(frames) * FRAME_SAMPLES / SAMPLE_RATE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    config = load_config()
    pipeline = load_pipeline(config, ModelStore(models_dir(config.models.dir)), Bus())
    rng = np.random.default_rng(1)
    speech = resample(pipeline.synth.synthesize("What is the weather like today?"), 22050, 16000)
    room = np.concatenate([rng.normal(0, 200, SAMPLE_RATE * 10).astype(np.int16), speech] * 6)
    listener = Listener(pipeline.wake, pipeline.vad, ListenerSettings.from_config(config))
    cost = offline_cost(listener, room)
    print(f"wake word + VAD + turn-taking: {cost:.1f} ms CPU per second of audio "
          f"({cost / 10:.2f} % of one core)")  # fmt: skip

    with VirtualSoundCard():
        home = tempfile.mkdtemp(prefix="secondself-bench-")
        app = App(home_override=home)
        session = start_session(app, SoundDeviceSpeaker(), pipeline)
        microphone = Microphone().start()

        async def idle() -> tuple[float, float]:
            task = asyncio.create_task(session.loop.run(microphone.frames()))
            await asyncio.sleep(2)  # settle
            cpu, wall = time.process_time(), time.monotonic()
            await asyncio.sleep(args.seconds)
            used = time.process_time() - cpu, time.monotonic() - wall
            task.cancel()
            return used

        cpu_s, wall_s = asyncio.run(idle())
        microphone.stop()
        session.conversation.memory.remember("my dog is called Biscuit", "cli")
        asyncio.run(session.conversation.answer("What is my dog's name?"))
        session.close()
    print(f"daemon idle on a live microphone for {wall_s:.0f} s: "
          f"{100 * cpu_s / wall_s:.2f} % of one core")  # fmt: skip
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS with every model loaded and a question answered: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
