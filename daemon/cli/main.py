"""The `secondself` command: one entry point, a subcommand per job.

Exit codes: 0 ok, 2 bad input (one line on stderr, no traceback), 1 runtime fault.
Each feature module registers its own subcommands with a `register(subparsers)` function
whose handlers take (args, app) and return an exit code.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from secondself import __version__
from secondself.core.errors import SecondselfError, UserError
from secondself.core.paths import PRIVATE_UMASK
from secondself.memory.printable import printable
from secondself.service import logs
from secondself.service.app import App

Handler = Callable[[argparse.Namespace, App], int]
log = logging.getLogger("secondself")


class _Parser(argparse.ArgumentParser):
    """Bad arguments are a mistake like any other: one line, exit 2 (argparse's own way
    prints the usage first). Subcommands' parsers are made of this class too."""

    def error(self, message: str) -> NoReturn:
        raise UserError("bad-arguments", f"{message} (`{self.prog} --help` says more)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="secondself",
        description="A voice-first personal AI: a second you that remembers and answers.",
    )
    parser.add_argument("--version", action="version", version=f"secondself {__version__}")
    parser.add_argument("--home", help="data folder (default: $SECONDSELF_HOME or XDG data)")
    parser.add_argument("--config", type=Path, help="an extra TOML config file, applied last")
    parser.add_argument("--user", default="default", help="whose memories (default: default)")
    parser.add_argument("--persona", default="personal", help="which persona (default: personal)")
    parser.add_argument("--events", type=Path, help="append every event as JSON lines to FILE")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    from secondself.cli import registry as commands

    for register in commands.registrars():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # The data home holds every memory: whatever this command makes there is its owner's
    # alone (folders 0700, files 0600), whatever umask the shell has.
    umask = os.umask(PRIVATE_UMASK)
    try:
        return _run(argv)
    finally:
        os.umask(umask)  # called as a function (the tests): leave the process as it was


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        app = App.from_args(args)
        # One logging set-up for every command: journald's fields under systemd, else stderr.
        logs.configure("debug" if args.verbose else app.config.log.level)
        handler: Handler = args.handler
        return handler(args, app)
    except SecondselfError as exc:  # one line, whatever names it quotes
        print(f"secondself: {printable(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("secondself: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a file the system would not open or write: a fault, one line
        print(f"secondself: {printable(_described(exc))}", file=sys.stderr)
        return 1


def _described(exc: OSError) -> str:
    """ "Is a directory: notes", not "[Errno 21] Is a directory: 'notes'"."""
    what = exc.strerror or str(exc)
    return what if exc.filename is None else f"{what}: {exc.filename}"
