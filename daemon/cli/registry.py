"""The subcommands, gathered from the modules that implement them."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from secondself.service.app import App

Subparsers = Any  # argparse's _SubParsersAction is private
Registrar = Callable[[Subparsers], None]


def _config(args: argparse.Namespace, app: App) -> int:
    """Print the effective configuration (defaults, files and environment merged)."""
    if args.json:
        print(json.dumps(app.config.to_dict(), indent=2))
        return 0
    for section, values in app.config.to_dict().items():
        print(f"[{section}]")
        for key, value in values.items():
            print(f"{key} = {json.dumps(value)}")
        print()
    return 0


def register_core(sub: Subparsers) -> None:
    p = sub.add_parser("config", help="print the effective configuration")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_config)


def registrars() -> list[Registrar]:
    """Every command's `register`, in the order `--help` lists them. Imported here, when the
    parser is built, so a command module can import this one without a cycle."""
    from secondself.cli import (
        ask,
        correct,
        doctor,
        listen,
        memories,
        models,
        persona,
        run,
        snapshot,
        user,
        web,
    )

    return [
        register_core,
        models.register,
        doctor.register,
        run.register,
        listen.register,
        ask.register,
        memories.register,
        correct.register,
        snapshot.register,
        persona.register,
        user.register,
        web.register,
    ]
