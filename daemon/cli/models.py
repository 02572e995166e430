"""`secondself models [fetch|verify|list]`: the manifest's models, fetched from PyPI, checked."""

from __future__ import annotations

import argparse
import os

from secondself.cli.registry import Subparsers
from secondself.core.paths import cache_dir, models_dir, source_models_dir
from secondself.service.app import App
from secondself.weights.fetch import Fetcher
from secondself.weights.manifest import MANIFEST, Manifest

SHARED_UMASK = 0o022  # folders 0755, files 0644


def _models_command(args: argparse.Namespace, app: App) -> int:
    folder = models_dir(app.config.models.dir)
    manifest = folder / MANIFEST
    if not manifest.is_file() and (source := source_models_dir()) is not None:
        manifest = source / MANIFEST
    if args.action == "list":
        store = Manifest.load(manifest)
        for model in store.models:
            size = f"{model.size / 1e6:8.1f} MB" if model.size else "  (converted)"
            print(f"{model.name:28} {model.role:14} {size}  {model.licence}")
        return 0
    # Models are no secret, and the daemon's own account reads what set-up fetched: they
    # are made readable by all, not private as the data home is.
    os.umask(SHARED_UMASK)
    fetcher = Fetcher(manifest, folder, cache_dir())
    full = args.action == "verify" or args.full
    made = fetcher.fetch_all(full=full)
    print(f"models in {folder}: all present and verified ({made} file(s) fetched or repaired)")
    return 0


def register(sub: Subparsers) -> None:
    p = sub.add_parser("models", help="fetch, verify or list the models")
    p.add_argument("action", choices=["fetch", "verify", "list"], nargs="?", default="fetch")
    p.add_argument("--full", action="store_true", help="rehash every file, not only new ones")
    p.set_defaults(handler=_models_command)
