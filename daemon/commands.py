"""The subcommands, gathered from the modules that implement them."""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable
from typing import Any

from secondself.app import App
from secondself.errors import SecondselfError

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


def _not_yet(command: str, issue: int) -> Callable[[argparse.Namespace, App], int]:
    def handler(args: argparse.Namespace, app: App) -> int:
        raise SecondselfError(
            "not-implemented", f"`secondself {command}` is not available yet (issue #{issue})"
        )

    return handler


def register_planned(sub: Subparsers) -> None:
    """Commands of DESIGN.md whose issues have not landed: listed, with a clear message."""
    planned: list[tuple[str, int, str]] = []  # (command, issue, help); none left just now
    for command, issue, text in planned:
        p = sub.add_parser(command, help=f"{text} (planned)")
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(handler=_not_yet(command, issue))


def _registrars() -> list[Registrar]:
    from secondself import ask, correct, daemon, doctor, fetch, persona_commands, snapshot

    found: list[Registrar] = [
        register_core,
        fetch.register,
        doctor.register,
        daemon.register,
        ask.register,
        persona_commands.register,
        correct.register,
        snapshot.register,
    ]
    try:
        memory_commands = importlib.import_module("secondself.memory.commands")
    except ModuleNotFoundError:  # until the memory store lands
        pass
    else:
        found.append(memory_commands.register)
    found.append(register_planned)
    return found


REGISTRARS: list[Registrar] = _registrars()
