"""`secondself ask QUESTION`: one answer from the user's memories, as text or JSON.

The same conversation code as the voice loop answers, with a silent voice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import numpy as np

from secondself.app import App
from secondself.cloud import CloudAnswerModel
from secondself.conversations import Conversations, Shared
from secondself.embed import load_embedder
from secondself.errors import UserError
from secondself.model_pool import ModelPool, spec_for
from secondself.pipeline import for_persona, load_answer_model
from secondself.protocols import Audio, Speech
from secondself.score import personal_score
from secondself.users import Household, Route


class SilentVoice:
    """Synthesizer and speaker in one that makes no sound (text-only answers)."""

    sample_rate = 16000

    def synthesize(self, text: str) -> Audio:
        return np.zeros(0, dtype=np.int16)

    def play(self, speech: Speech) -> None:
        pass

    def stop(self) -> None:
        pass


def _ask(args: argparse.Namespace, app: App) -> int:
    question = " ".join(args.question).strip()
    if not question:
        raise UserError("empty-question", "ask what? (the question is empty)")
    household = Household.from_app(app)
    persona = household.persona(app.user, app.persona)  # unknown: a one-line error
    config = for_persona(app.config, persona)
    start = time.perf_counter()
    embedder = load_embedder(app.models, config.embed.model, config.embed.threads)
    answerer = load_answer_model(app.models, config)
    load_ms = (time.perf_counter() - start) * 1000
    # Built as the daemon builds a persona's conversation, with no ears and a silent voice.
    pool = ModelPool.from_config(config, app.bus)
    pool.adopt(spec_for(app.models, config, persona.model), answerer, persona.name)
    voice = SilentVoice()
    shared = Shared(
        app.bus,
        app.config,
        app.models,
        _NoTranscriber(),
        embedder,
        voice,
        pool,
        cloud=CloudAnswerModel.from_config(config, app.bus),
    )
    route = Route(app.user, persona.name)
    conversations = Conversations(household, shared, route, {}, voices={persona.voice: voice})
    try:
        conversation = conversations.get(route)
        result = asyncio.run(conversation.answer(question))
        result.timings_ms.pop("first_audio", None)  # nothing is spoken here
        # Scored in the turn; "I don't know" (nothing answered, nothing to score) scores 0.
        parts = conversation.last_score or personal_score(result.reply, [], embedder)
    finally:
        conversations.close()
        pool.close()  # the answer model it was handed
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
        "timings_ms": {"load": round(load_ms, 1)}
        | {k: round(v, 1) for k, v in result.timings_ms.items()},
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(result.reply)
        ids = ", ".join(str(s.memory_id) for s in result.sources) or "none"
        print(f"(personal score {parts.score}/100; memories: {ids})", file=sys.stderr)
    return 0


class _NoTranscriber:
    def transcribe(self, audio: Audio) -> str:
        return ""


def register(sub: Any) -> None:
    p = sub.add_parser("ask", help="answer a question from your memories")
    p.add_argument("question", nargs="+", help="the question")
    p.add_argument("--json", action="store_true", help="answer, score, sources and timings")
    p.set_defaults(handler=_ask)
