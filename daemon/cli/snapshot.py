"""`secondself snapshot [--caption TEXT]`: a photo from the configured camera, saved as an
image memory (as a long button press or "take a picture" does), described by the vision
model too when one is configured and the persona's policy allows it."""

from __future__ import annotations

import argparse
import json
import logging
import time
from typing import Any

from secondself.answer.vision import PendingCaption, captioner_for
from secondself.core.errors import SecondselfError, Stage
from secondself.memory.embedding import load_embedder
from secondself.memory.model import Kind, MediaInput, Origin
from secondself.memory.photos import photo_text
from secondself.memory.store import MemoryStore
from secondself.service.app import App
from secondself.service.hardware import camera_for

log = logging.getLogger(__name__)


def _snapshot(args: argparse.Namespace, app: App) -> int:
    off: list[str] = []
    camera = camera_for(app.config, off)
    if camera is None:
        reason = "; ".join(off) or "camera.enabled is false"
        raise SecondselfError("camera-missing", f"no camera: {reason}", Stage.CAMERA)
    captioner = captioner_for(app.config, app.current_persona().backoff, off)
    if off:
        log.info("%s", "; ".join(off))  # why there is no description
    taken = time.time()
    jpeg = camera.snapshot()  # a clear SecondselfError if it cannot open or gets no frame
    seen = ""
    if captioner is not None:
        seen = PendingCaption(captioner, jpeg).result(app.config.camera.vision_wait_s)
    text = photo_text(args.caption or "", taken, seen)
    embedder = load_embedder(app.models, app.config.embed.model, app.config.embed.threads)
    with MemoryStore.open(app.user_dir(), embedder, bus=app.bus) as store:
        memory = store.remember(
            text,
            kind=Kind.IMAGE,
            persona=app.persona,
            source=Origin.CAMERA,
            provenance=camera.name
            + (f"; described by {captioner.name}" if seen and captioner else ""),
            media=MediaInput(jpeg, "jpg"),
            created=taken,
        )
    report = {"id": memory.id, "text": memory.text, "media": memory.media}
    print(json.dumps(report) if args.json else f"{memory.id}: {memory.text} ({memory.media})")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("snapshot", help="take a photo with the camera and save it as a memory")
    p.add_argument("--caption", help="what the photo shows (searchable)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_snapshot)
