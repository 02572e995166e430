"""One conversation turn: transcript -> intent -> memory -> streamed answer -> speech.

The orchestrator owns the order of stages and nothing else. Each blocking stage runs in a
worker thread; the answer streams through the sentence splitter into the synthesizer and
the speaker, so the first sentence plays while the rest is still being generated.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from secondself.answer.backoff import BackoffModel, start_backoff
from secondself.answer.control import TurnControl
from secondself.answer.correction import corrected_fact, leaned_on
from secondself.answer.direct import direct_answer, listing_answer, to_second_person
from secondself.answer.intent import Intent, recognize
from secondself.answer.phrases import DONT_KNOW, REPLIES, SPOKEN_LEAD_IN, forgot_reply, how_sure
from secondself.answer.ports import MemoryPort, SnapshotPort
from secondself.answer.prompt import Source, Turn, build_messages
from secondself.answer.score import ScoreParts, personal_score
from secondself.answer.spoken_stream import Grounding, SpokenStream
from secondself.answer.when import when_answer
from secondself.core.bus import Bus
from secondself.core.errors import SecondselfError
from secondself.core.events import (
    AnswerDone,
    IntentRecognized,
    MemoriesRetrieved,
    Speaking,
    SpeakingDone,
    StageError,
    Transcript,
)
from secondself.core.protocols import (
    SAMPLE_RATE,
    AnswerModel,
    Audio,
    Embedder,
    Speaker,
    Speech,
    Synthesizer,
    Transcriber,
)
from secondself.memory.model import Kind, Origin

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TurnSettings:
    max_tokens: int = 96
    top_k: int = 5
    history_turns: int = 3  # earlier question/answer pairs given to the model (follow-ups)
    # Share of a sentence's new words (not in the question) that the memories must contain
    # for it to be spoken: below it, the model is making things up.
    min_grounding: float = 0.5
    # A memory this close to the question (and clearly the closest) is the answer itself,
    # said in the user's words without the model. 0 = always use the model.
    direct_similarity: float = 0.6
    directives: str = ""  # the persona's personality, added to the model's instructions
    backoff: str = "never"  # the persona's cloud policy: never | without-memories | with-memories


@dataclass(slots=True)
class TurnResult:
    text: str  # what the user said
    intent: Intent
    reply: str = ""
    sources: list[Source] = field(default_factory=list)
    backend: str = "local"
    timings_ms: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False


class Conversation:
    def __init__(
        self,
        bus: Bus,
        stt: Transcriber,
        memory: MemoryPort,
        answerer: AnswerModel,
        synth: Synthesizer,
        speaker: Speaker,
        settings: TurnSettings | None = None,
        cloud: BackoffModel | None = None,
        camera: SnapshotPort | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.bus = bus
        self.camera = camera
        self.cloud = cloud  # None unless the user configured one (nothing leaves the device)
        self.stt = stt
        self.memory = memory
        self.answerer = answerer
        self.synth = synth
        self.speaker = speaker
        self.settings = settings or TurnSettings()
        self.history: deque[Turn] = deque(maxlen=self.settings.history_turns)
        self.last_sources: list[Source] = []  # what the last answer drew on (corrections)
        self.last_score: ScoreParts | None = None  # the last answer's personal score
        self.embedder = embedder  # for the score's style part (None: style counts 0)
        self._control = TurnControl(bus)
        self._epoch: object = None  # the memory's forget epoch the kept turns were read in

    # -- entry points ----------------------------------------------------------------------

    def turn(self, audio: Audio, speculative: bool = False) -> Coroutine[Any, Any, TurnResult]:
        """Transcribe an utterance and act on it (await the result).

        A speculative turn starts while the user may still be talking (during the trailing
        silence): it transcribes, recalls and generates, but says and saves nothing until
        `release()`; `stop()` abandons it. The turn's switches are made here, when it is
        called, not when its coroutine first runs: a `release()` that comes in between (the
        endpoint right after the pause) belongs to this turn, not to the one before.
        """
        control = self._control = TurnControl(self.bus, released=not speculative)
        return self._turn(audio, control)

    async def _turn(self, audio: Audio, control: TurnControl) -> TurnResult:
        start = time.perf_counter()
        text = await asyncio.to_thread(self.stt.transcribe, audio)
        stt_s = time.perf_counter() - start
        control.publish(Transcript(text=text, duration_s=audio.size / SAMPLE_RATE, seconds=stt_s))
        result = await self.handle_text(text, control)
        result.timings_ms = {"stt": stt_s * 1000, **result.timings_ms}
        return result

    def release(self) -> None:
        """The speculative turn was right: let it speak (and save)."""
        self._control.release()

    async def handle_text(self, text: str, control: TurnControl | None = None) -> TurnResult:
        """Act on what the user said (also the entry point of `ask` and of tests)."""
        if control is None:
            self._control = control = TurnControl(self.bus)
        await self._drop_what_was_forgotten()
        recognized = recognize(text)
        control.publish(IntentRecognized(intent=recognized.intent, argument=recognized.argument))
        result = TurnResult(text=text, intent=recognized.intent)
        # Only a question is worked on before the user is surely done: the rest changes things.
        if recognized.intent is not Intent.ASK and not await control.released():
            return result
        try:
            match recognized.intent:
                case Intent.ASK:
                    await self._answer(recognized.argument, result, control)
                case Intent.REMEMBER:
                    await self._remember(recognized.argument, result, Kind.NOTE, control)
                case Intent.CORRECT:
                    await self._remember(recognized.argument, result, Kind.CORRECTION, control)
                case Intent.FORGET:
                    await self._forget(recognized.argument, result, control)
                case Intent.STOP:
                    self.stop()
                case Intent.SNAPSHOT:
                    problem: str | None = REPLIES["no_camera"]
                    if self.camera is not None:
                        problem = await asyncio.to_thread(self.camera.snapshot_for_voice)
                    if problem:
                        await self._say(problem, result, control)
                case Intent.HOW_SURE:
                    await self._say(how_sure(self.last_score), result, control)
        except SecondselfError as exc:
            log.error("%s failed (%s): %s", exc.stage or "turn", exc.code, exc.message)
            control.publish(
                StageError(stage=str(exc.stage or "turn"), code=exc.code, message=exc.message)
            )
            await self._say(REPLIES["sorry"], result, control)
        return result

    async def answer(self, question: str, history: Sequence[Turn] | None = None) -> TurnResult:
        """Answer a question (no intent rules): `secondself ask` and the web page. `history`:
        the earlier turns as the asker holds them (a chat client sends them with each
        question), in place of this conversation's own."""
        self._control = control = TurnControl(self.bus)
        await self._drop_what_was_forgotten()
        if history is not None:
            self.history.clear()
            self.history.extend(history)  # the last `history_turns` of them
        result = TurnResult(text=question, intent=Intent.ASK)
        await self._answer(question, result, control)
        return result

    def reconfigure(self, settings: TurnSettings) -> None:
        """A reload (SIGHUP): the next turn runs with these settings."""
        self.settings = settings

    def stop(self) -> None:
        """Barge-in, "stop", or a speculation abandoned: end generation and playback now
        (any thread)."""
        self._control.cancel.set()
        self.speaker.stop()

    async def _drop_what_was_forgotten(self) -> None:
        """Once anything was forgotten (here, on the page, by the CLI), the earlier turns,
        their sources and score may hold its text: no later answer is built from them."""
        epoch = await self._forget_epoch()
        if epoch is None or epoch != self._epoch:
            self.history.clear()
            self.last_sources = []
            self.last_score = None
        self._epoch = epoch

    async def _forget_epoch(self) -> object:
        try:
            return await asyncio.to_thread(self.memory.forget_epoch)
        except SecondselfError:
            return None  # the memory is gone (its user removed): keep nothing read from it

    # -- intents ---------------------------------------------------------------------------

    async def _answer(self, question: str, result: TurnResult, control: TurnControl) -> None:
        start = time.perf_counter()
        sources = await asyncio.to_thread(self.memory.recall, question, self.settings.top_k)
        recall_s = time.perf_counter() - start
        control.publish(
            MemoriesRetrieved(ids=tuple(s.memory_id for s in sources), seconds=recall_s)
        )
        result.sources = sources
        result.timings_ms["memory"] = recall_s * 1000
        listed = listing_answer(question, sources)
        if listed is not None:
            # "What did I photograph yesterday?": that time's memories, each with its time.
            await self._say_from_memory(listed, result, control)
            await self._answered(question, result, sources)
            return
        if not sources and not self.history:
            # Nothing the user told us answers this: back off to the cloud if the persona
            # allows it, else say so rather than let the small model guess.
            if await self._back_off(question, sources, result, control):
                return
            await self._say_from_memory(DONT_KNOW, result, control)
            return
        close = self.settings.direct_similarity
        direct = when_answer(question, sources, close) or direct_answer(question, sources, close)
        if direct is not None:
            # One memory answers it: say it in the user's own words, no model needed (its
            # time words said as of now: "yesterday" a year ago was "on Sunday 7 May 2023").
            await self._say_from_memory(to_second_person(direct.retimed), result, control)
            await self._answered(question, result, [direct])
            return
        messages = build_messages(question, sources, list(self.history), self.settings.directives)
        local = functools.partial(self.answerer.stream, messages, self.settings.max_tokens)
        grounding = Grounding(question, sources, self.settings.min_grounding)
        await self._stream_reply(local, grounding, result, control)
        await self._answered(question, result, sources)

    async def _back_off(
        self, question: str, sources: Sequence[Source], result: TurnResult, control: TurnControl
    ) -> bool:
        """Answer from the cloud model, as the persona's policy allows; False to answer here."""
        if self.cloud is None or not await control.released():
            return False  # never ask the cloud for a turn that may yet be abandoned
        started = await asyncio.to_thread(
            start_backoff,
            self.cloud,
            self.settings.backoff,
            question,
            sources,
            list(self.history),
            self.settings.directives,
            self.settings.max_tokens,
        )
        if started is None:
            return False
        result.backend = "cloud"
        pieces = functools.partial(itertools.chain, [SPOKEN_LEAD_IN + " "], started)
        await self._stream_reply(pieces, None, result, control)
        return True

    async def _say_from_memory(self, text: str, result: TurnResult, control: TurnControl) -> None:
        """An answer made without the model (backend "memory")."""
        result.backend = "memory"
        control.publish(
            AnswerDone(text=text, backend="memory", first_token_s=0.0, seconds=0.0, tokens=0)
        )
        await self._say(text, result, control)

    async def _answered(self, question: str, result: TurnResult, sources: Sequence[Source]) -> None:
        """Keep the turn for follow-ups, corrections and the conversation log (the reply has
        been spoken by now: this costs the user nothing)."""
        if not result.reply or result.interrupted:
            return
        if await self._forget_epoch() != self._epoch:
            return  # something was forgotten while answering: the answer may quote it
        self.last_score = await asyncio.to_thread(
            personal_score, result.reply, sources, self.embedder
        )
        self.history.append(Turn(question, result.reply))
        self.last_sources = list(sources)
        ids = [s.memory_id for s in sources]
        await asyncio.to_thread(self.memory.remember_turn, question, result.reply, ids)

    async def _remember(
        self, text: str, result: TurnResult, kind: Kind, control: TurnControl
    ) -> None:
        if not text:
            await self._say(REPLIES["remember_what"], result, control)
            return
        start = time.perf_counter()
        # A correction overrides the memory the last answer leaned on most.
        corrects = None
        if kind is Kind.CORRECTION and self.last_sources and self.history:
            wrong = leaned_on(self.last_sources)
            last = self.history[-1]
            text = corrected_fact(text, last.answer, last.question, wrong.text)
            corrects = wrong.memory_id
        await asyncio.to_thread(self.memory.remember, text, Origin.VOICE, kind, corrects)
        result.timings_ms["memory"] = (time.perf_counter() - start) * 1000
        reply = REPLIES["corrected" if kind is Kind.CORRECTION else "saved"]
        await self._say(reply, result, control)

    async def _forget(self, text: str, result: TurnResult, control: TurnControl) -> None:
        ids = await asyncio.to_thread(self.memory.forget_matching, text)
        reply = forgot_reply(len(ids)) if ids else REPLIES["forgot_none"]
        await self._say(reply, result, control)

    # -- speech ----------------------------------------------------------------------------

    async def _say(self, text: str, result: TurnResult, control: TurnControl) -> None:
        result.reply = text
        speech = await self._synthesize(text, control)
        await self._play([speech], result, control)

    async def _synthesize(self, sentence: str, control: TurnControl) -> Speech:
        start = time.perf_counter()
        audio = await asyncio.to_thread(self.synth.synthesize, sentence)
        control.publish(Speaking(sentence=sentence, synth_s=time.perf_counter() - start))
        return Speech(audio, self.synth.sample_rate)

    async def _play(
        self, speeches: Sequence[Speech], result: TurnResult, control: TurnControl
    ) -> None:
        if not await control.released():
            result.interrupted = True
            return
        for speech in speeches:
            if control.cancel.is_set():
                break
            await asyncio.to_thread(self.speaker.play, speech)
        result.interrupted = control.cancel.is_set()
        control.publish(SpeakingDone(interrupted=result.interrupted))

    async def _stream_reply(
        self,
        pieces: Callable[[], Iterable[str]],
        grounding: Grounding | None,
        result: TurnResult,
        control: TurnControl,
    ) -> None:
        """The answer spoken as it is generated; each sentence held to `grounding` (a cloud
        answer, with None, is not held to the memories)."""
        stream = SpokenStream(
            pieces,
            grounding,
            functools.partial(self._synthesize, control=control),
            self.speaker,
            control,
            result.backend,
            result.timings_ms,
        )
        result.reply = await stream.run()
        result.interrupted = control.cancel.is_set()
        if control.was_released:  # an abandoned speculation said nothing, so ends nothing
            control.publish(SpeakingDone(interrupted=result.interrupted))
