"""`secondself correct TEXT`: correct the last answer, as "No, it's ..." does by voice.

The last answered turn of this persona is in the memory (a conversation turn, linked to the
memories it drew on); `correction.correct_last` rewrites the correction into a whole fact
about the memory that answer leaned on and saves it as a correction of it, which then
outranks it (and, when the store sees the same subject with a new value, supersedes it).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from secondself.answer.correction import check_said, correct_last
from secondself.memory.embedding import load_embedder
from secondself.memory.model import Origin
from secondself.memory.store import MemoryStore
from secondself.service.app import App


def _correct(args: argparse.Namespace, app: App) -> int:
    said = check_said(" ".join(args.text))
    embedder = load_embedder(app.models, app.config.embed.model, app.config.embed.threads)
    with MemoryStore.open(app.user_dir(), embedder, bus=app.bus) as store:
        fixed = correct_last(store, app.persona, said, Origin.CLI)
    saved, corrects = fixed.memory, fixed.corrects
    report: dict[str, Any] = {"id": saved.id, "text": saved.text, "corrects": corrects}
    print(json.dumps(report) if args.json else f"{saved.id}: {saved.text} (corrects {corrects})")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("correct", help='correct the last answer ("No, it\'s ...")')
    p.add_argument("text", nargs="+", help="what is right, e.g. Rex")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_correct)
