"""`secondself ask QUESTION`: one answer from the user's memories, as text or JSON.

The same conversation code as the voice loop answers, with a silent voice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from secondself.answer.score import personal_score
from secondself.cli.registry import Subparsers
from secondself.core.errors import UserError
from secondself.memory.validate import check_unicode
from secondself.service.app import App
from secondself.service.session import text_session


def _ask(args: argparse.Namespace, app: App) -> int:
    question = check_unicode(" ".join(args.question), "question").strip()
    if not question:
        raise UserError("empty-question", "ask what? (the question is empty)")
    with text_session(app) as session:
        conversation, persona = session.conversation, session.persona
        result = asyncio.run(conversation.answer(question))
        result.timings_ms.pop("first_audio", None)  # nothing is spoken here
        # Scored in the turn; "I don't know" (nothing answered, nothing to score) scores 0.
        parts = conversation.last_score or personal_score(result.reply, [], session.embedder)
    report: dict[str, Any] = {
        "question": question,
        "persona": persona.name,
        "answer": result.reply,
        "personal_score": parts.score,
        "score_parts": parts.to_dict(),
        "sources": [
            {"id": s.memory_id, "text": s.text, "similarity": round(s.similarity, 3)}
            for s in result.sources
        ],
        "backend": result.backend,
        "below_threshold": parts.score < persona.threshold,
        "timings_ms": {"load": round(session.load_ms, 1)}
        | {k: round(v, 1) for k, v in result.timings_ms.items()},
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(result.reply)
        ids = ", ".join(str(s.memory_id) for s in result.sources) or "none"
        print(f"(personal score {parts.score}/100; memories: {ids})", file=sys.stderr)
    return 0


def register(sub: Subparsers) -> None:
    p = sub.add_parser("ask", help="answer a question from your memories")
    p.add_argument("question", nargs="+", help="the question")
    p.add_argument("--json", action="store_true", help="answer, score, sources and timings")
    p.set_defaults(handler=_ask)
