"""A question from another program (the OpenAI- and Ollama-compatible APIs), answered as a
spoken one is: the persona's own conversation turn, minus the audio.

The daemon lends the page a way to make a persona's conversation (`Converse`: its memory,
directives, answer model from the pool and cloud policy, as a wake word gets) with a voice
that says nothing and hands each sentence to the request (`Sentences`). So a client gets
what the device would say, as it is made: each sentence held to the memories, the hedge,
"I don't know that yet.". Each request has a conversation of its own: a chat client sends
the earlier turns with each question, and they are the history its follow-ups see.

Answers share the answer model with the voice, and each waits for it in a worker thread of
the loop's, which the voice's stages use too: so one is made at a time (`AT_ONCE`), the
rest wait on the loop, and beyond `WAITING` waiting a request is a 503. A client that goes
away stops its answer; an answer cut short is not kept as a conversation turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

import numpy as np

from secondself.answer.prompt import Turn
from secondself.answer.score import ScoreParts, personal_score
from secondself.answer.turn import Conversation, TurnResult
from secondself.core.protocols import Audio, Speaker, Speech, Synthesizer
from secondself.household.personas import Persona
from secondself.household.routing import Route
from secondself.memory.validate import check_unicode
from secondself.web.api import WebApi
from secondself.web.asker import Asker, pinned
from secondself.web.errors import HttpError

log = logging.getLogger(__name__)

T = TypeVar("T")
AT_ONCE = 1  # answers made at once (one answer model, two cores)
WAITING = 16  # requests that may wait for their turn; more are told to come back
QUESTION_CHARS = 2000  # a question is a sentence or two, not a document
TURN_CHARS = 1000  # of each earlier question and answer, the end is kept (the prompt is small)
# Said first when a request offers tools: the answer that follows is from memory only.
NO_TOOLS = "I can't use tools, so this is from what you've told me:"


class Converse(Protocol):
    """Makes a new conversation of a user's persona with the given voice (blocking)."""

    def __call__(self, route: Route, synth: Synthesizer, speaker: Speaker) -> Conversation: ...


@dataclass(frozen=True, slots=True)
class Question:
    """What a chat request asks: its last user message, after the turns before it."""

    text: str
    history: tuple[Turn, ...]
    offers_tools: bool  # the request offers tools or holds tool calls: none are used


@dataclass(frozen=True, slots=True)
class Answered:
    """The end of an answer: what was said, its personal score and what it drew on."""

    reply: str
    persona: str
    parts: ScoreParts
    result: TurnResult
    threshold: int

    def extension(self) -> dict[str, Any]:
        """The `secondself` field of a chat answer (as `secondself ask --json` reports)."""
        return {
            "persona": self.persona,
            "personal_score": self.parts.score,
            "score_parts": self.parts.to_dict(),
            "sources": [
                {"id": s.memory_id, "text": s.text, "similarity": round(s.similarity, 3)}
                for s in self.result.sources
            ],
            "backend": self.result.backend,
            "below_threshold": self.parts.score < self.threshold,
        }


def text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of parts (OpenAI's shape)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )  # fmt: skip
    raise HttpError(400, "bad-message", "a message's content is text or a list of parts")


def read_question(messages: Sequence[Any], tools: object = None) -> Question:
    """The question and the turns before it, from a chat request's messages (dicts with a
    role and a content: OpenAI's and Ollama's alike). System messages are not used: the
    persona has its own directives. HttpError 400 without a question."""
    turns: list[Turn] = []
    question: str | None = None
    offers_tools = bool(tools)
    for message in messages:
        if not isinstance(message, dict):
            raise HttpError(400, "bad-message", "each message is an object")
        role, text = message.get("role"), text_of(message.get("content"))
        offers_tools |= role == "tool" or bool(message.get("tool_calls"))
        if role == "user":
            if question is not None:  # a question the client got no answer to
                turns.append(Turn(_end(question), ""))
            question = text
        elif role == "assistant" and question is not None:
            turns.append(Turn(_end(question), _end(text)))
            question = None
    if question is None:
        raise HttpError(400, "no-question", "the last messages hold no question from the user")
    question = check_unicode(question, "question").strip()
    if not question:
        raise HttpError(400, "empty-question", "ask what? (the question is empty)")
    if len(question) > QUESTION_CHARS:
        raise HttpError(
            400, "question-too-long", f"a question is at most {QUESTION_CHARS:,} characters"
        )
    return Question(question, tuple(t for t in turns if t.answer), offers_tools)


def _end(text: str) -> str:
    return text.strip()[-TURN_CHARS:]


class Sentences:
    """A voice that says nothing: each sentence the turn would speak goes to the request.
    (Its `synthesize` is called in a worker thread, the rest on the loop.)"""

    sample_rate = 16000

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()

    def synthesize(self, text: str) -> Audio:
        self._loop.call_soon_threadsafe(self._queue.put_nowait, text)
        return np.zeros(0, dtype=np.int16)

    def play(self, speech: Speech) -> None:
        pass

    def stop(self) -> None:
        pass

    def end(self) -> None:
        self._queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[str]:
        while (sentence := await self._queue.get()) is not None:
            yield sentence


class Chat:
    """Answers chat requests with the persona's conversation, one at a time."""

    def __init__(self, converse: Converse, api: WebApi) -> None:
        self._converse = converse
        self._api = api
        self._turn = asyncio.Semaphore(AT_ONCE)
        self._in_flight = 0

    async def models(self, asker: Asker) -> tuple[str, list[Persona]]:
        """The user and the personas the token may chat with (a scoped token: its own)."""

        def work() -> tuple[str, list[Persona]]:
            user = asker.user or self._api.default_user
            self._api.stores.folder(user)  # UserError: bad name, or no such user
            found = self._api.stores.household.book(user).all()
            return user, [p for p in found if asker.grant.persona in (None, p.name)]

        return await self._api.run(work)

    async def ask(
        self, asker: Asker, model: str, messages: Sequence[Any], tools: object = None
    ) -> AsyncIterator[str | Answered]:
        """The answer to a chat request for persona `model`, begun (`started`): its errors
        so far (bad messages, another persona's, an unknown one, a 503) are raised here."""
        question = read_question(messages, tools)
        named = replace(asker, persona=pinned("persona", model, asker.grant.persona))
        who = await self._api.run(lambda: self._api.who(named))
        route = Route(who.user, who.persona.name)
        return await started(self.stream(route, question, who.persona.threshold))

    async def stream(
        self, route: Route, question: Question, threshold: int
    ) -> AsyncIterator[str | Answered]:
        """The answer's pieces as they are said (the first is the tools notice, when the
        request offers tools), then `Answered`. HttpError 503 when too many are waiting,
        raised before anything is answered."""
        if self._in_flight >= AT_ONCE + WAITING:
            raise HttpError(503, "busy", "too many questions at once: ask again in a moment")
        self._in_flight += 1
        try:
            if question.offers_tools:
                yield NO_TOOLS
            async with self._turn:
                async for piece in self._answer(route, question, threshold):
                    yield piece
        finally:
            self._in_flight -= 1

    async def _answer(
        self, route: Route, question: Question, threshold: int
    ) -> AsyncIterator[str | Answered]:
        sentences = Sentences(asyncio.get_running_loop())
        conversation = await self._api.run(lambda: self._converse(route, sentences, sentences))
        answering = asyncio.create_task(conversation.answer(question.text, question.history))
        answering.add_done_callback(lambda _: sentences.end())
        try:
            async for sentence in sentences:
                yield sentence
            result = await answering
        finally:
            if not answering.done():  # the client went away: stop generating for it
                conversation.stop()
                answering.add_done_callback(_log_failure)
        # Scored in the turn; an answer not kept ("I don't know", say) is scored here.
        parts = conversation.last_score
        if parts is None:
            embedder = self._api.stores.embedder
            parts = await self._api.run(
                lambda: personal_score(result.reply, result.sources, embedder)
            )
        yield Answered(result.reply, route.persona, parts, result, threshold)


async def started(pieces: AsyncIterator[T]) -> AsyncIterator[T]:
    """`pieces`, with the first already made: an error before it (a 503, an unknown
    persona) is the request's answer, not a broken stream."""
    try:
        first = await anext(pieces)
    except StopAsyncIteration:
        first = None

    async def rest() -> AsyncIterator[T]:
        if first is not None:
            yield first
        async for piece in pieces:
            yield piece

    return rest()


def _log_failure(task: asyncio.Task[TurnResult]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        if (error := task.exception()) is not None:
            log.warning("an answer stopped for a client that went away failed: %s", error)
