"""`secondself forget ID|--match|--since|--until|--persona-all|--user-all`: for good."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime, timedelta

from secondself.cli.memories import line
from secondself.cli.registry import Subparsers
from secondself.cli.store_access import open_store
from secondself.core.errors import Stage, UserError
from secondself.memory.store import forget_user
from secondself.memory.validate import check_unicode
from secondself.service.app import App

_RELATIVE = re.compile(r"(\d+)\s*([mhdw])")
MAX_ID = 2**63 - 1  # SQLite's largest row id: a bigger number names no memory
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def register(sub: Subparsers) -> None:
    p = sub.add_parser("forget", help="forget memories for good (every copy)")
    p.add_argument("ids", nargs="*", metavar="ID")  # checked by _memory_ids: one line
    p.add_argument("--match", metavar="TEXT", help="memories containing TEXT")
    p.add_argument("--since", metavar="TIME", help="saved at or after (ISO time, or 2h, 3d)")
    p.add_argument("--until", metavar="TIME", help="saved before (ISO time, or 2h, 3d)")
    p.add_argument("--persona-all", action="store_true", help="everything this persona saved")
    p.add_argument("--user-all", action="store_true", help="the whole user: every memory")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=_forget)


def _forget(args: argparse.Namespace, app: App) -> int:
    ids = _memory_ids(args.ids)
    if args.match is not None:  # bytes of the command line that are not UTF-8
        check_unicode(args.match, "--match")
    if args.user_all:
        if ids or args.match or args.since or args.until or args.persona_all:
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
        if ids:
            raise UserError("memory-unknown-id", f"no memory with id {ids[0]}", Stage.MEMORY)
        print("nothing to forget", file=sys.stderr)
        return 0
    now = datetime.now()
    with open_store(app, vectors=False) as store:
        chosen = store.select_for_forget(
            ids=ids,
            match=args.match,
            since=_when(args.since, now, "--since"),
            until=_when(args.until, now, "--until"),
            persona=app.persona if args.persona_all else None,
        )
        # A persona may forget what it can see (its own and shared memories), nothing else;
        # another persona's private memory is, to it, an unknown id.
        hidden = [m for m in chosen if not m.visible_to(app.persona)]
        if hidden and ids and any(m.id in ids for m in hidden):
            raise UserError("memory-unknown-id", f"no memory with id {hidden[0].id}", Stage.MEMORY)
        chosen = [m for m in chosen if m.visible_to(app.persona)]
        if not chosen:
            print("nothing matched: nothing forgotten", file=sys.stderr)
            return 0
        for m in chosen[:20]:
            print(line(m), file=sys.stderr)
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


def _memory_ids(given: list[str]) -> list[int]:
    """The ids to forget, each a whole number SQLite can hold; UserError before anything opens."""
    ids: list[int] = []
    for raw in given:
        if not (raw.isascii() and raw.isdigit()):
            raise UserError(
                "forget-bad-id", f"{raw!r} is not a memory id (a whole number)", Stage.MEMORY
            )
        # Length first: int() of thousands of digits is slow, and refused past 4,300.
        if len(raw.lstrip("0")) > len(str(MAX_ID)) or int(raw) > MAX_ID:
            raise UserError("memory-unknown-id", f"no memory with id {raw}", Stage.MEMORY)
        ids.append(int(raw))
    return ids


def _confirm(question: str, yes: bool) -> bool:
    if yes or not sys.stdin.isatty():
        return True  # scripts and pipes: no one to ask
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def _when(text: str | None, now: datetime, option: str) -> float | None:
    if text is None:
        return None
    match = _RELATIVE.fullmatch(text.strip().lower())
    try:
        if match:
            delta = timedelta(**{_UNITS[match[2]]: int(match[1])})
            return (now - delta).timestamp()
        return datetime.fromisoformat(text).timestamp()
    except (ValueError, OverflowError):  # not a time, or none a clock can show (99999999d)
        raise UserError(
            "bad-time",
            f"{option} {text!r}: use an ISO time (2025-01-31, 2025-01-31T18:00) or 30m, 2h, 7d",
            Stage.MEMORY,
        ) from None
