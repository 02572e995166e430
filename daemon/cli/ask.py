"""`secondself ask QUESTION`: one answer from the user's memories, as text or JSON.

The same conversation code as the voice loop answers, with a silent voice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

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
        report = asyncio.run(session.ask(question))
    report["timings_ms"] = {"load": round(session.load_ms, 1)} | report["timings_ms"]
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(report["answer"])
        ids = ", ".join(str(s["id"]) for s in report["sources"]) or "none"
        print(f"(personal score {report['personal_score']}/100; memories: {ids})", file=sys.stderr)
    return 0


def register(sub: Subparsers) -> None:
    p = sub.add_parser("ask", help="answer a question from your memories")
    p.add_argument("question", nargs="+", help="the question")
    p.add_argument("--json", action="store_true", help="answer, score, sources and timings")
    p.set_defaults(handler=_ask)
