"""CLI: `remember`, `memories`, `forget`, `import`, `export`.

Only the commands that need vectors (remember, search, import) load the embedding model.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from secondself.cli.registry import Subparsers
from secondself.core.errors import Stage, UserError
from secondself.core.protocols import Embedder
from secondself.memory import archive, importer
from secondself.memory.media import IMAGE_EXTS
from secondself.memory.model import (
    Kind,
    MediaInput,
    Memory,
    Origin,
    SearchFilter,
    SearchResult,
    Visibility,
)
from secondself.memory.progress import StderrProgress
from secondself.memory.store import MemoryStore, forget_user
from secondself.service.app import App

_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def register(sub: Subparsers) -> None:
    p = sub.add_parser("remember", help="save a memory (prints its id)")
    p.add_argument("text", nargs="*", help="what to remember")
    p.add_argument("--image", type=Path, help="save this photo as an image memory")
    p.add_argument("--caption", help="the image's caption (default: from the file name)")
    p.add_argument(
        "--kind",
        choices=[str(k) for k in (Kind.NOTE, Kind.VOICE_NOTE, Kind.CORRECTION)],
        default=str(Kind.NOTE),
    )
    p.add_argument("--corrects", type=int, metavar="ID", help="the memory this one corrects")
    p.add_argument("--shared", action="store_true", help="visible to every persona")
    p.add_argument("--json", action="store_true", help="print the saved memory as JSON")
    p.set_defaults(handler=_remember)

    p = sub.add_parser("memories", help="list or search memories")
    p.add_argument("--search", metavar="Q", help="hybrid search (meaning and words)")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--all", action="store_true", help="include superseded memories")
    p.add_argument("--kind", choices=[str(k) for k in Kind], action="append")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_memories)

    p = sub.add_parser("forget", help="forget memories for good (every copy)")
    p.add_argument("ids", nargs="*", type=int, metavar="ID")
    p.add_argument("--match", metavar="TEXT", help="memories containing TEXT")
    p.add_argument("--since", metavar="TIME", help="saved at or after (ISO time, or 2h, 3d)")
    p.add_argument("--until", metavar="TIME", help="saved before (ISO time, or 2h, 3d)")
    p.add_argument("--persona-all", action="store_true", help="everything this persona saved")
    p.add_argument("--user-all", action="store_true", help="the whole user: every memory")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=_forget)

    p = sub.add_parser("import", help="import notes, photos, JSONL or an exported archive")
    p.add_argument("path", type=Path)
    p.set_defaults(handler=_import)

    p = sub.add_parser("export", help="export every memory to one .tar.gz archive")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=_export)


# --- opening the store -------------------------------------------------------------------


def load_embedder(app: App, batch: bool = False) -> Embedder:
    """`batch`: a one-off bulk job (import) may use every core: 1.8x faster on 2 cores."""
    from secondself.memory.embedding import load_embedder as load

    threads = max(app.config.embed.threads, os.cpu_count() or 1) if batch else None
    return load(app.models, app.config.embed.model, threads or app.config.embed.threads)


def open_store(app: App, vectors: bool, batch: bool = False) -> MemoryStore:
    embedder = load_embedder(app, batch) if vectors else None
    return MemoryStore.open(
        app.user_dir(),
        embedder,
        bus=app.bus,
        progress=StderrProgress("re-embedding memories"),
    )


# --- handlers ---------------------------------------------------------------------------


def _remember(args: argparse.Namespace, app: App) -> int:
    text = " ".join(args.text).strip()
    media = None
    kind = Kind(args.kind)
    source = Origin.CLI
    if args.image is not None:
        media, caption = _read_image(args.image, args.caption or text)
        text, kind = caption, Kind.IMAGE
    elif args.caption:
        raise UserError("remember-caption", "--caption goes with --image FILE", Stage.MEMORY)
    if kind is Kind.CORRECTION and args.corrects is None:
        raise UserError("remember-correction", "a correction needs --corrects ID", Stage.MEMORY)
    with open_store(app, vectors=True) as store:
        if args.corrects is not None and not store.get(args.corrects).visible_to(app.persona):
            raise UserError("memory-unknown-id", f"no memory with id {args.corrects}", Stage.MEMORY)
        memory = store.remember(
            text,
            kind=kind,
            persona=app.persona,
            visibility=Visibility.SHARED if args.shared else Visibility.PRIVATE,
            source=source,
            media=media,
            corrects=args.corrects,
        )
    if args.json:
        print(json.dumps(_memory_json(memory), ensure_ascii=False))
    else:
        print(memory.id)
    return 0


def _read_image(path: Path, caption: str) -> tuple[MediaInput, str]:
    ext = path.suffix.lower().lstrip(".")
    if ext not in IMAGE_EXTS:
        raise UserError(
            "remember-image-type",
            f"{path.name} is not a supported image ({', '.join(sorted(IMAGE_EXTS))})",
            Stage.MEMORY,
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(
            "remember-image-read", f"cannot read {path}: {exc.strerror}", Stage.MEMORY
        ) from None
    return MediaInput(data, ext), caption or importer.caption_for(path)


def _memories(args: argparse.Namespace, app: App) -> int:
    where = SearchFilter(
        persona=app.persona,
        kinds=tuple(Kind(k) for k in args.kind or ()),
        include_superseded=args.all,
    )
    limit = max(1, args.limit)
    if args.search is not None:
        with open_store(app, vectors=True) as store:
            results = store.search(args.search, where, limit)
        if args.json:
            print(json.dumps([_result_json(r) for r in results], ensure_ascii=False, indent=1))
        else:
            for r in results:
                print(_line(r.memory, f"{r.scores.similarity:.2f}"))
        return 0
    if not app.db_path().exists():
        memories: list[Memory] = []  # listing must not create a database
    else:
        with open_store(app, vectors=False) as store:
            memories = store.recent(where, limit)
    if args.json:
        print(json.dumps([_memory_json(m) for m in memories], ensure_ascii=False, indent=1))
    else:
        for m in memories:
            print(_line(m))
    return 0


def _forget(args: argparse.Namespace, app: App) -> int:
    if args.user_all:
        if args.ids or args.match or args.since or args.until or args.persona_all:
            raise UserError(
                "forget-user-all", "--user-all forgets everything: give it alone", Stage.MEMORY
            )
        user_dir = app.user_dir()
        if not user_dir.exists():
            print(f"no memories for user {app.user}", file=sys.stderr)
            return 0
        if not _confirm(f"Forget EVERYTHING of user {app.user} ({user_dir})?", args.yes):
            print("nothing forgotten", file=sys.stderr)
            return 1
        removed = forget_user(user_dir)
        print(f"forgot user {app.user}: removed {len(removed)} files ({', '.join(removed)})")
        return 0
    if not app.db_path().exists():
        if args.ids:
            raise UserError("memory-unknown-id", f"no memory with id {args.ids[0]}", Stage.MEMORY)
        print("nothing to forget", file=sys.stderr)
        return 0
    now = datetime.now()
    with open_store(app, vectors=False) as store:
        chosen = store.select_for_forget(
            ids=args.ids,
            match=args.match,
            since=_when(args.since, now, "--since"),
            until=_when(args.until, now, "--until"),
            persona=app.persona if args.persona_all else None,
        )
        # A persona may forget what it can see (its own and shared memories), nothing else;
        # another persona's private memory is, to it, an unknown id.
        hidden = [m for m in chosen if not m.visible_to(app.persona)]
        if hidden and args.ids and any(m.id in args.ids for m in hidden):
            raise UserError("memory-unknown-id", f"no memory with id {hidden[0].id}", Stage.MEMORY)
        chosen = [m for m in chosen if m.visible_to(app.persona)]
        if not chosen:
            print("nothing matched: nothing forgotten", file=sys.stderr)
            return 0
        for m in chosen[:20]:
            print(_line(m), file=sys.stderr)
        if len(chosen) > 20:
            print(f"... and {len(chosen) - 20} more", file=sys.stderr)
        if not _confirm(f"Forget these {len(chosen)} memories for good?", args.yes):
            print("nothing forgotten", file=sys.stderr)
            return 1
        report = store.forget(chosen, persona=app.persona)
    print(f"forgot {len(report.ids)} memories: {', '.join(f'#{i}' for i in report.ids)}")
    if report.turns_removed:
        print(f"  with the conversation turns that quoted them: {list(report.turns_removed)}")
    if report.media_removed:
        print(f"  media files removed: {', '.join(report.media_removed)}")
    print("  text index merged, vector index purged, database vacuumed, WAL truncated")
    return 0


def _confirm(question: str, yes: bool) -> bool:
    if yes or not sys.stdin.isatty():
        return True  # scripts and pipes: no one to ask
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def _when(text: str | None, now: datetime, option: str) -> float | None:
    if text is None:
        return None
    match = _RELATIVE.match(text.strip().lower())
    if match:
        delta = timedelta(**{_UNITS[match[2]]: int(match[1])})
        return (now - delta).timestamp()
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise UserError(
            "bad-time",
            f"{option} {text!r}: use an ISO time (2025-01-31, 2025-01-31T18:00) or 30m, 2h, 7d",
            Stage.MEMORY,
        ) from None


def _import(args: argparse.Namespace, app: App) -> int:
    todo = importer.plan(args.path, app.persona)  # everything checked before any write
    if not todo.items:
        print(f"nothing to import in {args.path}", file=sys.stderr)
        return 0
    with open_store(app, vectors=True, batch=True) as store:
        ids = importer.run(store, todo, StderrProgress("importing"))
    print(f"imported {len(ids)} memories from {args.path}")
    if todo.skipped:
        print(f"  skipped {len(todo.skipped)} files: {', '.join(todo.skipped[:10])}")
    return 0


def _export(args: argparse.Namespace, app: App) -> int:
    if not app.db_path().exists():
        raise UserError("export-empty", f"no memories for user {app.user}", Stage.MEMORY)
    with open_store(app, vectors=False) as store:
        count = archive.export(store, args.file, StderrProgress("exporting"))
    print(f"exported {count} memories to {args.file}")
    return 0


# --- output -------------------------------------------------------------------------------


def _line(m: Memory, extra: str = "") -> str:
    when = datetime.fromtimestamp(m.created).strftime("%Y-%m-%d %H:%M")
    text = m.text.replace("\n", " ")
    text = text if len(text) <= 80 else text[:77] + "..."
    flags = "" if m.current else " (superseded)"
    extra = f" {extra}" if extra else ""
    return f"#{m.id:<6} {when} {m.kind:<17}{extra} {text}{flags}"


def _memory_json(m: Memory) -> dict[str, Any]:
    data = archive.record(m, [])
    data["current"] = m.current
    return data


def _result_json(r: SearchResult) -> dict[str, Any]:
    data = _memory_json(r.memory)
    data["scores"] = {
        "similarity": r.scores.similarity,
        "vector_rank": r.scores.vector_rank,
        "bm25_rank": r.scores.bm25_rank,
        "bm25": r.scores.bm25,
        "fused": r.scores.fused,
    }
    return data
