"""`secondself run`: the daemon's main job (the voice loop arrives with issue #4)."""

from __future__ import annotations

import argparse
from typing import Any

from secondself.app import App


def _run(args: argparse.Namespace, app: App) -> int:
    raise NotImplementedError


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run the daemon")
    p.add_argument("--demo-if-no-mic", action="store_true")
    p.set_defaults(handler=_run)
