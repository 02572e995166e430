"""`secondself correct TEXT`: correct the last answer, as "No, it's ..." does by voice.

The last answered turn of this persona is in the memory (a conversation turn, linked to the
memories it drew on); the correction is rewritten into a whole fact about the memory that
answer leaned on, and saved as a correction of it, which then outranks it (and, when the
store sees the same subject with a new value, supersedes it).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from secondself.app import App
from secondself.correction import corrected_fact
from secondself.embed import load_embedder
from secondself.errors import Stage, UserError
from secondself.memory.model import Kind, SearchFilter, Source
from secondself.memory.store import MemoryStore


def _correct(args: argparse.Namespace, app: App) -> int:
    said = " ".join(args.text).strip()
    if not said:
        raise UserError("empty-correction", "correct with what? (the text is empty)", Stage.MEMORY)
    embedder = load_embedder(app.models, app.config.embed.model, app.config.embed.threads)
    with MemoryStore.open(app.user_dir(), embedder, bus=app.bus) as store:
        turns = store.recent(
            SearchFilter(persona=app.persona, kinds=(Kind.CONVERSATION_TURN,)), limit=1
        )
        if not turns:
            raise UserError("nothing-to-correct", "there is no answer to correct yet", Stage.MEMORY)
        turn = turns[0]
        question, _, answer = turn.text.removeprefix("Q: ").partition("\nA: ")
        used = [store.get(i) for i in store.quotes().get(turn.id, [])]
        if not used:
            raise UserError(
                "nothing-to-correct",
                "the last answer did not come from a memory; say the fact with `remember`",
                Stage.MEMORY,
            )
        wrong = used[0]
        fact = corrected_fact(said, answer, question, wrong.text)
        memory = store.remember(
            fact, kind=Kind.CORRECTION, persona=app.persona, source=Source.CLI, corrects=wrong.id
        )
    report: dict[str, Any] = {"id": memory.id, "text": fact, "corrects": wrong.id}
    print(json.dumps(report) if args.json else f"{memory.id}: {fact} (corrects {wrong.id})")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("correct", help='correct the last answer ("No, it\'s ...")')
    p.add_argument("text", nargs="+", help="what is right, e.g. Rex")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_correct)
