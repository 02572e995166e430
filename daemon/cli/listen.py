"""`secondself listen FILE`: a recording pushed through the daemon's own pipeline, offline."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from secondself.cli.registry import Subparsers
from secondself.service.app import App
from secondself.service.console import EventPrinter
from secondself.service.session import recording_frames, start_session
from secondself.voice.audio_file import read_audio
from secondself.voice.wav_speaker import ReplyRecorder


def _listen(args: argparse.Namespace, app: App) -> int:
    audio = read_audio(args.file)  # a bad file is a one-line error before any model loads
    app.bus.on(EventPrinter(as_json=args.json, show_text=True))
    recorder = ReplyRecorder(args.out)
    app.bus.on(recorder)
    session = start_session(app, recorder)
    try:
        asyncio.run(session.loop.run(recording_frames(audio), wait_for_turns=True))
    finally:
        session.close()
    for path in recorder.files:
        print(f"reply written: {path}", file=sys.stderr)
    return 0


def register(sub: Subparsers) -> None:
    p = sub.add_parser("listen", help="push a recording through the same pipeline, offline")
    p.add_argument("file", type=Path, help="a WAV, FLAC or OGG file (any rate, mono or stereo)")
    p.add_argument("--json", action="store_true", help="events as JSON lines")
    p.add_argument("--out", type=Path, help="write each spoken reply as a WAV in this folder")
    p.set_defaults(handler=_listen)
