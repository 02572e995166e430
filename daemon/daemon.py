"""`secondself run` (the daemon's main job) and `secondself listen FILE.wav` (the same
pipeline over a recording)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from secondself.app import App
from secondself.console import EventPrinter
from secondself.conversation import Conversation, TurnSettings
from secondself.events import DaemonReady, DaemonStopping
from secondself.listener import Listener
from secondself.memory.store import MemoryStore
from secondself.pipeline import Pipeline, listener_settings, load_pipeline
from secondself.protocols import FRAME_SAMPLES, SAMPLE_RATE, Audio, Speaker
from secondself.recall import PersonaMemory
from secondself.replies import ReplyRecorder
from secondself.voice_loop import VoiceLoop
from secondself.wavio import read_wav

TAIL_SILENCE_S = 2.0  # appended to recordings so the last utterance's end is heard


@dataclass
class Session:
    """Everything a running voice pipeline holds; closed in one place."""

    pipeline: Pipeline
    store: MemoryStore
    conversation: Conversation
    loop: VoiceLoop

    def close(self) -> None:
        self.store.close()


def start_session(app: App, speaker: Speaker, pipeline: Pipeline | None = None) -> Session:
    """Wire the stages into a voice loop (loading the models unless they are given)."""
    start = time.perf_counter()
    config = app.config
    pipeline = pipeline or load_pipeline(config, app.models, app.bus)
    store = MemoryStore.open(app.user_dir(), pipeline.embedder, bus=app.bus)
    conversation = Conversation(
        app.bus,
        pipeline.stt,
        PersonaMemory(store, app.persona),
        pipeline.answerer,
        pipeline.synth,
        speaker,
        TurnSettings(max_tokens=config.llm.max_tokens, top_k=config.memory.top_k),
    )
    listener = Listener(pipeline.wake, pipeline.vad, listener_settings(config))
    loop = VoiceLoop(app.bus, listener, conversation, pipeline.stt, config.wake.model)
    app.bus.publish(
        DaemonReady(seconds=time.perf_counter() - start, models=tuple(pipeline.load_seconds))
    )
    return Session(pipeline, store, conversation, loop)


async def recording_frames(audio: Audio) -> AsyncIterator[Audio]:
    """A recording as 80 ms frames (zero-padded), then a little silence."""
    tail = np.zeros(int(TAIL_SILENCE_S * SAMPLE_RATE), dtype=np.int16)
    padded = np.concatenate([audio, tail])
    padded = np.pad(padded, (0, (-padded.size) % FRAME_SAMPLES))
    for start in range(0, padded.size, FRAME_SAMPLES):
        yield padded[start : start + FRAME_SAMPLES]
        await asyncio.sleep(0)  # let turns and subscribers run between frames


# --- listen ------------------------------------------------------------------------------


def _listen(args: argparse.Namespace, app: App) -> int:
    audio = read_wav(args.file)  # a bad file is a one-line error before any model loads
    app.bus.on(EventPrinter(as_json=args.json, show_text=True))
    recorder = ReplyRecorder(args.out) if args.out else ReplyRecorder(Path("/nonexistent"))
    if args.out:
        app.bus.on(recorder)
    session = start_session(app, recorder)
    try:
        asyncio.run(session.loop.run(recording_frames(audio), wait_for_turns=True))
    finally:
        session.close()
    for path in recorder.files:
        print(f"reply written: {path}", file=sys.stderr)
    return 0


# --- run ---------------------------------------------------------------------------------


def _run(args: argparse.Namespace, app: App) -> int:
    from secondself.audio import MicrophoneSupervisor, SoundDeviceSpeaker, list_devices

    if args.demo_if_no_mic and not any(d.inputs > 0 for d in list_devices()):
        from secondself.demo import run_demo

        return run_demo(app)
    app.bus.on(EventPrinter(as_json=args.json, show_text=sys.stdout.isatty()))
    speaker = SoundDeviceSpeaker.from_config(app.config.audio)
    session = start_session(app, speaker)
    microphone = MicrophoneSupervisor.from_config(app.config.audio)
    try:
        asyncio.run(_serve(session, microphone))
    finally:
        microphone.stop()
        session.close()
    return 0


async def _serve(session: Session, microphone: Any) -> None:
    """Listen until SIGTERM or SIGINT; then stop cleanly."""
    loop = asyncio.get_running_loop()
    listening = asyncio.create_task(session.loop.run(microphone.start().frames()))
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    waiter = asyncio.create_task(stopping.wait())
    await asyncio.wait({listening, waiter}, return_when=asyncio.FIRST_COMPLETED)
    session.loop.bus.publish(
        DaemonStopping(reason="signal" if stopping.is_set() else "input ended")
    )
    listening.cancel()
    waiter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await listening


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run the voice daemon (wake word, answers, memories)")
    p.add_argument("--json", action="store_true", help="events as JSON lines")
    p.add_argument(
        "--demo-if-no-mic",
        action="store_true",
        help="with no microphone, run a spoken demo on a virtual sound card instead",
    )
    p.set_defaults(handler=_run)

    p = sub.add_parser("listen", help="push a recording through the same pipeline, offline")
    p.add_argument("file", type=Path, help="a WAV file (any rate, mono or stereo)")
    p.add_argument("--json", action="store_true", help="events as JSON lines")
    p.add_argument("--out", type=Path, help="write each spoken reply as a WAV in this folder")
    p.set_defaults(handler=_listen)
