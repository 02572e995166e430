"""`secondself persona create|list|show|edit|delete`: a user's personas.

The persona and user acted on come from the global `--user` (and `persona ... NAME`);
nothing here loads a model.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from typing import Any

from secondself.cli.registry import Subparsers
from secondself.core.errors import UserError
from secondself.household.personas import Backoff, Persona
from secondself.household.users import refuse_default
from secondself.memory.model import Memory, Visibility
from secondself.service.app import App


def register(sub: Subparsers) -> None:
    persona = sub.add_parser("persona", help="manage personas (wake word, voice, style, model)")
    verbs = persona.add_subparsers(dest="persona_command", metavar="ACTION", required=True)

    p = verbs.add_parser("create", help="create a persona")
    p.add_argument("name")
    _settings(p)
    p.set_defaults(handler=_create)

    p = verbs.add_parser("list", help="list the personas of the user")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_list)

    p = verbs.add_parser("show", help="show one persona (default: --persona)")
    p.add_argument("name", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_show)

    p = verbs.add_parser("edit", help="change a persona's settings")
    p.add_argument("name")
    _settings(p)
    p.add_argument("--no-wake", action="store_true", help="no wake word (reached by --persona)")
    p.set_defaults(handler=_edit)

    p = verbs.add_parser("delete", help="delete a persona (asks about its private memories)")
    p.add_argument("name")
    keep = p.add_mutually_exclusive_group()
    keep.add_argument("--forget-memories", action="store_true", help="forget its private ones")
    keep.add_argument("--keep-memories", action="store_true", help="keep them (hidden)")
    p.set_defaults(handler=_delete)


def _settings(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wake", metavar="WORD", help="wake word (one of the shipped models)")
    p.add_argument("--voice", help="piper voice: a manifest name or a .onnx path")
    p.add_argument("--directives", metavar="TEXT", help='personality, e.g. "curious, brief"')
    p.add_argument("--model", help="answer model: a manifest name or a .gguf path")
    p.add_argument("--backoff", choices=[str(b) for b in Backoff], help="what may go to cloud")
    p.add_argument("--threshold", type=int, metavar="0-100", help="personal score for backoff")


# --- personas ---------------------------------------------------------------------------


def _create(args: argparse.Namespace, app: App) -> int:
    household = app.household
    base = household.persona(app.user, "personal")  # unset settings: the default's
    persona = Persona(
        name=args.name,
        wake_word=args.wake,
        voice=args.voice or base.voice,
        model=args.model or base.model,
        directives=args.directives or "",
        backoff=Backoff(args.backoff or Backoff.NEVER),
        threshold=base.threshold if args.threshold is None else args.threshold,
    )
    created = household.create_persona(app.user, persona)
    print(f"created persona {created.name}: {_summary(created)}")
    return 0


def _edit(args: argparse.Namespace, app: App) -> int:
    if args.no_wake and args.wake:
        raise UserError("persona-edit", "--wake and --no-wake contradict each other")
    changes: dict[str, Any] = {
        key: value
        for key, value in (
            ("wake_word", args.wake),
            ("voice", args.voice),
            ("directives", args.directives),
            ("model", args.model),
            ("backoff", None if args.backoff is None else Backoff(args.backoff)),
            ("threshold", args.threshold),
        )
        if value is not None
    }
    if args.no_wake:
        changes["wake_word"] = None
    if not changes:
        raise UserError("persona-edit", "nothing to change: give --wake, --voice, ... ")
    edited = app.household.edit_persona(app.user, args.name, lambda p: replace(p, **changes))
    print(f"changed persona {edited.name}: {_summary(edited)}")
    print(
        "a running daemon applies new directives and backoff on `systemctl reload "
        "secondself`; a new wake word, voice or model after `systemctl restart secondself`",
        file=sys.stderr,
    )
    return 0


def _list(args: argparse.Namespace, app: App) -> int:
    household = app.household
    household.require(app.user)
    personas = household.book(app.user).all()
    if args.json:
        print(json.dumps([persona_json(p) for p in personas], ensure_ascii=False, indent=1))
        return 0
    for p in personas:
        print(f"{p.name:<16} {_summary(p)}")
    return 0


def _show(args: argparse.Namespace, app: App) -> int:
    persona = app.household.persona(app.user, args.name or app.persona)
    if args.json:
        print(json.dumps(persona_json(persona), ensure_ascii=False, indent=1))
        return 0
    for key, value in persona_json(persona).items():
        print(f"{key:<11} {value if value is not None else '-'}")
    return 0


def _delete(args: argparse.Namespace, app: App) -> int:
    household = app.household
    persona = household.persona(app.user, args.name)
    refuse_default(persona.name)  # before asking anything
    private = _private_memories(app, persona.name)
    forget = False
    if private and not args.keep_memories:
        forget = args.forget_memories or _ask_forget(persona.name, len(private))
    if forget:
        _forget(app, persona.name, private)  # first: a failure leaves the persona to try again
    household.delete_persona(app.user, persona.name)
    print(f"deleted persona {persona.name}")
    if forget:
        print(f"  forgot its {len(private)} private memories")
    elif private:
        print(
            f"  kept its {len(private)} private memories: no other persona sees them; a new "
            f"persona named {persona.name} would (`secondself --persona {persona.name} "
            "forget --persona-all` forgets them)"
        )
    return 0


def _ask_forget(name: str, count: int) -> bool:
    if not sys.stdin.isatty():
        raise UserError(
            "persona-delete-memories",
            f"persona {name} has {count} private memories: say --forget-memories or "
            "--keep-memories",
        )
    answer = input(f"Forget the {count} private memories of persona {name} too? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _private_memories(app: App, persona: str) -> list[Memory]:
    if not app.db_path().exists():
        return []
    from secondself.memory.store import MemoryStore

    with MemoryStore.open(app.user_dir(), bus=app.bus) as store:
        mine = store.select_for_forget(persona=persona)
    return [m for m in mine if m.visibility is Visibility.PRIVATE]  # shared ones stay shared


def _forget(app: App, persona: str, memories: list[Memory]) -> None:
    from secondself.memory.store import MemoryStore

    with MemoryStore.open(app.user_dir(), bus=app.bus) as store:
        store.forget(memories, persona=persona)  # its own private memories, as it asked


def persona_json(p: Persona) -> dict[str, Any]:
    return p.to_dict() | {"implicit": p.implicit}


def _summary(p: Persona) -> str:
    wake = p.wake_word or "(no wake word)"
    text = f"wake {wake}, voice {p.voice}, model {p.model}, backoff {p.backoff}"
    text += f" below {p.threshold}"
    if p.directives:
        text += f", directives {p.directives!r}"
    return text + (" (default settings)" if p.implicit else "")
