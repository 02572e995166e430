"""Text answers from the running daemon (its MCP `ask`): each persona's own silent
conversation, over the daemon's models and stores, apart from the spoken ones.

A question asked over the network is the same turn as a spoken one, minus audio: the same
recall, answer model (from the daemon's pool), grounding and score, but said to no speaker,
and with its own follow-up history, so it never becomes context for what is asked aloud.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from secondself.household.routing import Route
from secondself.service.conversations import Conversations
from secondself.service.session import NoTranscriber, Session, SilentVoice, answer_report
from secondself.web.callers import Caller


class DaemonAnswers:
    """`Answers` for the daemon's MCP endpoint; one answer at a time per persona."""

    def __init__(self, session: Session) -> None:
        spoken = session.conversations
        silent = SilentVoice()
        shared = replace(spoken.shared, stt=NoTranscriber(), speaker=silent)
        # The daemon's own stores (closed with the daemon, not here) and no wake words.
        self._conversations = Conversations(
            spoken.household, shared, spoken.stores, spoken.primary, {}, voice=silent
        )
        self._turns: dict[Route, asyncio.Lock] = {}

    async def ask(self, caller: Caller, question: str) -> dict[str, Any]:
        route = Route(caller.user, caller.persona)
        household = self._conversations.household
        persona = await asyncio.to_thread(household.persona, caller.user, caller.persona)
        conversation = await asyncio.to_thread(self._conversations.get, route)
        # A conversation keeps one turn's state at a time (its history, its last score).
        async with self._turns.setdefault(route, asyncio.Lock()):
            return await answer_report(
                conversation, persona, self._conversations.shared.embedder, question
            )
