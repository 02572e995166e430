"""`secondself import PATH`: notes, photos, JSONL or an archive, checked before any write."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from secondself.cli.registry import Subparsers
from secondself.cli.store_access import open_store
from secondself.memory import importer
from secondself.memory.progress import StderrProgress
from secondself.service.app import App


def register(sub: Subparsers) -> None:
    p = sub.add_parser("import", help="import notes, photos, JSONL or an exported archive")
    p.add_argument("path", type=Path)
    p.set_defaults(handler=_import)


def _import(args: argparse.Namespace, app: App) -> int:
    todo = importer.plan(args.path, app.persona)  # everything checked before any write
    if todo.outside_links:
        links = "link that leads" if len(todo.outside_links) == 1 else "links that lead"
        print(
            f"skipped {len(todo.outside_links)} {links} out of {args.path} (or nowhere): "
            f"{_some(todo.outside_links)}",
            file=sys.stderr,
        )
    if not todo.items:
        print(f"nothing to import in {args.path}", file=sys.stderr)
        return 0
    with open_store(app, vectors=True, batch=True) as store:
        done = importer.run(store, todo, StderrProgress("importing"))
    print(f"imported {len(done.ids)} memories from {args.path}")
    if done.already:
        print(f"  {done.already} skipped: already imported")
    if todo.skipped:
        print(f"  skipped {len(todo.skipped)} files: {_some(todo.skipped)}")
    return 0


def _some(names: list[str], most: int = 10) -> str:
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more
