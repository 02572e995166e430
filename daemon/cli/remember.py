"""`secondself remember TEXT` and `remember --image FILE`: save a memory, print its id."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from secondself.cli.forget import MAX_ID
from secondself.cli.memories import memory_json
from secondself.cli.registry import Subparsers
from secondself.cli.store_access import open_store
from secondself.core.errors import Stage, UserError
from secondself.memory import importer, validate
from secondself.memory.media import IMAGE_EXTS
from secondself.memory.model import (
    Kind,
    MediaInput,
    Origin,
    Visibility,
)
from secondself.service.app import App


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
    if args.corrects is not None and not 0 < args.corrects <= MAX_ID:  # SQLite holds no more
        raise UserError("memory-unknown-id", f"no memory with id {args.corrects}", Stage.MEMORY)
    text = validate.clean_text(text)  # before the embedding model loads
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
        print(json.dumps(memory_json(memory), ensure_ascii=False))
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
