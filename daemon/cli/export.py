"""`secondself export FILE`: every memory of the user in one .tar.gz archive."""

from __future__ import annotations

import argparse
from pathlib import Path

from secondself.cli.registry import Subparsers
from secondself.cli.store_access import open_store
from secondself.core.errors import Stage, UserError
from secondself.memory import archive
from secondself.memory.progress import StderrProgress
from secondself.service.app import App


def register(sub: Subparsers) -> None:
    p = sub.add_parser("export", help="export every memory to one .tar.gz archive")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=_export)


def _export(args: argparse.Namespace, app: App) -> int:
    if not app.db_path().exists():
        raise UserError("export-empty", f"no memories for user {app.user}", Stage.MEMORY)
    with open_store(app, vectors=False) as store:
        count = archive.export(store, args.file, StderrProgress("exporting"))
    print(f"exported {count} memories to {args.file}")
    return 0
