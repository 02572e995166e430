"""`secondself user add|list|remove`: the users of this device, one database file each."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from secondself.cli.persona import persona_json
from secondself.cli.registry import Subparsers
from secondself.core.errors import UserError
from secondself.household.users import UserInfo
from secondself.service.app import App


def register(sub: Subparsers) -> None:
    user = sub.add_parser("user", help="manage the users of this device")
    verbs = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)

    p = verbs.add_parser("add", help="add a user (their own database file)")
    p.add_argument("name")
    p.add_argument("--wake", metavar="WORD", help="the wake word of their 'personal' persona")
    p.set_defaults(handler=_user_add)

    p = verbs.add_parser("list", help="list users, their personas and wake words")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_user_list)

    p = verbs.add_parser("remove", help="remove a user and forget everything of theirs")
    p.add_argument("name")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=_user_remove)


def _user_add(args: argparse.Namespace, app: App) -> int:
    info = app.household.add_user(args.name, args.wake)
    wake = info.personas[0].wake_word
    print(f"added user {info.name} ({info.folder})" + (f", wake word {wake}" if wake else ""))
    return 0


def _user_list(args: argparse.Namespace, app: App) -> int:
    household = app.household
    infos = [household.info(u) for u in household.users()]
    if args.json:
        print(json.dumps([user_json(i) for i in infos], ensure_ascii=False, indent=1))
        return 0
    for info in infos:
        personas = ", ".join(f"{p.name} ({p.wake_word or '-'})" for p in info.personas)
        print(f"{info.name:<16} {info.db_bytes:>10,} bytes  personas: {personas}")
    for conflict in household.registry().conflicts:
        print(f"warning: {conflict}", file=sys.stderr)
    return 0


def _user_remove(args: argparse.Namespace, app: App) -> int:
    household = app.household
    folder = household.folder(args.name)
    if not folder.is_dir():
        raise UserError("user-unknown", f"no user {args.name!r} (nothing stored)")
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError("user-remove-confirm", "removing a user forgets everything: add --yes")
        answer = input(f"Forget EVERYTHING of user {args.name} ({folder})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing removed", file=sys.stderr)
            return 1
    removed = household.remove_user(args.name)
    print(f"removed user {args.name}: {len(removed)} files forgotten")
    return 0


def user_json(info: UserInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "folder": str(info.folder),
        "db_bytes": info.db_bytes,
        "personas": [persona_json(p) for p in info.personas],
    }
