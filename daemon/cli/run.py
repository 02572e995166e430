"""`secondself run`: the voice daemon (the main job of `make run` and the systemd unit)."""

from __future__ import annotations

import argparse

from secondself.cli.registry import Subparsers
from secondself.service.app import App
from secondself.service.run import run_daemon


def _run(args: argparse.Namespace, app: App) -> int:
    return run_daemon(app, as_json=args.json, demo_if_no_mic=args.demo_if_no_mic)


def register(sub: Subparsers) -> None:
    p = sub.add_parser("run", help="run the voice daemon (wake word, answers, memories)")
    p.add_argument("--json", action="store_true", help="events as JSON lines")
    p.add_argument(
        "--demo-if-no-mic",
        action="store_true",
        help="with no microphone, run a spoken demo on a virtual sound card instead",
    )
    p.set_defaults(handler=_run)
