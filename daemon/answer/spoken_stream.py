"""An answer spoken while it is generated: pieces -> sentences -> speech -> speaker, overlapping."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from secondself.answer.control import TurnControl
from secondself.answer.prompt import Source
from secondself.answer.score import hedge, novel_grounding
from secondself.core.events import AnswerDone, AnswerToken
from secondself.core.protocols import Speaker, Speech
from secondself.voice.sentences import SentenceSplitter


@dataclass(frozen=True, slots=True)
class Grounding:
    """What a local answer's sentences are held to: the memories recalled for the question."""

    question: str
    sources: Sequence[Source]
    minimum: float  # share of a sentence's new words (not in the question) they must contain

    def holds(self, sentence: str) -> bool:
        return novel_grounding(sentence, self.question, self.sources) >= self.minimum

    def hedge(self) -> str:
        return hedge(self.sources)


class SpokenStream:
    """One answer, streamed aloud.

    A worker thread pulls the pieces; the sentences they make are checked against the
    grounding and synthesized in turn, and the speaker plays each one as soon as it is
    ready, so the first sentence plays while the rest is still being generated. The first
    sentence that is not grounded ends the answer (and if nothing was said yet, a hedge is
    said instead).
    """

    def __init__(
        self,
        pieces: Callable[[], Iterable[str]],  # called in the worker thread
        grounding: Grounding | None,  # None: not held to the memories (a cloud answer)
        synthesize: Callable[[str], Awaitable[Speech]],
        speaker: Speaker,
        control: TurnControl,
        backend: str,  # for AnswerDone
        timings_ms: dict[str, float],  # gets first_token, answer and first_audio
    ) -> None:
        self._pieces = pieces
        self._grounding = grounding
        self._synthesize = synthesize
        self._speaker = speaker
        self._control = control
        self._backend = backend
        self._timings_ms = timings_ms
        self._text: asyncio.Queue[str | None] = asyncio.Queue()
        self._to_play: asyncio.Queue[Speech | None] = asyncio.Queue()
        self._enough = threading.Event()  # stop generating: the rest will not be spoken
        self._spoken: list[str] = []
        self._start = 0.0
        self._first_token_s: float | None = None
        self._tokens = 0

    async def run(self) -> str:
        """Generate, check, synthesize and play the answer; returns what was said."""
        loop = asyncio.get_running_loop()
        self._start = time.perf_counter()
        generator = asyncio.create_task(asyncio.to_thread(self._generate, loop))
        await asyncio.gather(self._speak_sentences(), self._play(), generator)
        return " ".join(self._spoken)

    def _generate(self, loop: asyncio.AbstractEventLoop) -> None:
        """The worker thread: each piece into the queue, then None (also on a failure)."""
        try:
            for piece in self._pieces():
                if self._control.cancel.is_set() or self._enough.is_set():
                    break
                if self._first_token_s is None:
                    self._first_token_s = time.perf_counter() - self._start
                self._tokens += 1
                loop.call_soon_threadsafe(self._text.put_nowait, piece)
        finally:
            loop.call_soon_threadsafe(self._text.put_nowait, None)

    async def _speak_sentences(self) -> None:
        splitter = SentenceSplitter()
        while (piece := await self._text.get()) is not None:
            self._control.publish(AnswerToken(text=piece))
            for sentence in splitter.feed(piece):
                await self._say(sentence)
        for sentence in splitter.flush():
            await self._say(sentence)
        await self._to_play.put(None)
        self._answered()

    async def _say(self, sentence: str) -> None:
        if self._enough.is_set() or self._control.cancel.is_set():
            return
        if self._grounding is not None and not self._grounding.holds(sentence):
            self._enough.set()  # the model is making things up: stop it here
            if self._spoken:
                return
            sentence = self._grounding.hedge()
        self._spoken.append(sentence)
        await self._to_play.put(await self._synthesize(sentence))

    def _answered(self) -> None:
        generated = time.perf_counter() - self._start
        first = generated if self._first_token_s is None else self._first_token_s
        self._timings_ms["first_token"] = first * 1000
        self._timings_ms["answer"] = generated * 1000
        self._control.publish(
            AnswerDone(
                text=" ".join(self._spoken),
                backend=self._backend,
                first_token_s=first,
                seconds=generated,
                tokens=self._tokens,
            )
        )

    async def _play(self) -> None:
        first = True
        released = await self._control.released()
        while (speech := await self._to_play.get()) is not None:
            if not released or self._control.cancel.is_set():
                continue
            if first:
                self._timings_ms["first_audio"] = (time.perf_counter() - self._start) * 1000
                first = False
            await asyncio.to_thread(self._speaker.play, speech)
