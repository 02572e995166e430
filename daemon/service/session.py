"""The session: every stage wired into one voice loop, built one way for `run`, `listen`,
`ask` and the demo."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from secondself.answer.cloud_client import CloudAnswerModel
from secondself.answer.intent import Intent, recognize
from secondself.answer.pool import ModelPool, spec_for
from secondself.answer.score import personal_score
from secondself.answer.turn import Conversation
from secondself.core.config import Config
from secondself.core.events import ButtonPressed, DaemonReady
from secondself.core.protocols import FRAME_SAMPLES, SAMPLE_RATE, Audio, Embedder, Speaker, Speech
from secondself.household.personas import Persona, for_persona
from secondself.household.routing import Route
from secondself.household.stores import CurrentStore, OpenStores
from secondself.memory.embedding import load_embedder
from secondself.memory.store import MemoryStore
from secondself.service.app import App
from secondself.service.conversations import Conversations, Shared, wake_routes
from secondself.service.hardware import Hardware, announcer, start_hardware
from secondself.service.loading import Pipeline, load_answer_model, load_pipeline
from secondself.voice.listener import Listener, ListenerSettings
from secondself.voice.loop import VoiceLoop
from secondself.voice.wake import load_wake_words

log = logging.getLogger(__name__)

TAIL_SILENCE_S = 2.0  # appended to recordings so the last utterance's end is heard


@dataclass
class Session:
    """Everything a running voice pipeline holds; closed in one place."""

    pipeline: Pipeline
    conversations: Conversations
    pool: ModelPool
    loop: VoiceLoop[Conversation]
    hardware: Hardware | None = None

    @property
    def store(self) -> MemoryStore:
        """The memories of the user the daemon was started for (the device's owner)."""
        return self.conversations.store(self.conversations.primary.user)

    @property
    def conversation(self) -> Conversation:
        """The conversation a wake word last called."""
        return self.loop.conversation

    def close(self) -> None:
        if self.hardware is not None:
            self.hardware.close()  # a memo or snapshot in flight is saved first
        self.conversations.close()
        self.pool.close()


def start_session(
    app: App, speaker: Speaker, pipeline: Pipeline | None = None, hardware: bool = False
) -> Session:
    """Wire the stages into a voice loop (loading the models unless they are given).

    The daemon answers every wake word of the household: the one of the persona it runs as
    (`--user`, `--persona`) and those of the other users' and personas' (`conversations`).
    `hardware`: the button, camera and LED (the daemon), not for offline runs and tests."""
    start = time.perf_counter()
    household = app.household
    persona = household.persona(app.user, app.persona)  # unknown: a one-line error
    config = for_persona(app.config, persona)
    primary = Route(app.user, persona.name)
    routes = wake_routes(household, primary, config.wake.model)
    given = pipeline is not None  # the caller's models are the caller's to close
    pipeline = pipeline or load_pipeline(config, app.models, app.bus, wake_words=list(routes))
    pool = ModelPool.from_config(config, app.bus)
    # The model loaded at start (warm, timed with the others) is the pool's first.
    spec = spec_for(app.models, config, persona.model)
    pool.adopt(spec, pipeline.answerer, persona.name, hand_over=not given)
    shared = Shared(
        app.bus,
        app.config,
        app.models,
        pipeline.stt,
        pipeline.embedder,
        speaker,
        pool,
        cloud=CloudAnswerModel.from_config(config, app.bus),
    )
    stores = OpenStores(household, pipeline.embedder, app.bus)
    devices = _devices(app, config, persona, pipeline, stores, speaker) if hardware else None
    conversations = Conversations(
        household,
        shared,
        stores,
        primary,
        routes,
        camera=devices.device if devices else None,
        voices={persona.voice: pipeline.synth},
    )
    for problem in conversations.make_all():
        log.warning("%s", problem)
    loop = _voice_loop(app, config, pipeline, conversations, devices)
    app.bus.publish(
        DaemonReady(seconds=time.perf_counter() - start, models=tuple(pipeline.load_seconds))
    )
    return Session(pipeline, conversations, pool, loop, devices)


def _devices(
    app: App,
    config: Config,
    persona: Persona,
    pipeline: Pipeline,
    stores: OpenStores,
    speaker: Speaker,
) -> Hardware:
    """The button, camera and LED, saving into the memory of the persona the daemon runs as."""
    return start_hardware(
        config,
        app.bus,
        memory=CurrentStore(stores, app.user),  # the store as it is at each save
        stt=pipeline.stt,
        vad=pipeline.vad,
        speaker=speaker,
        sample_rate=pipeline.synth.sample_rate,
        persona=persona.name,
        backoff=persona.backoff,  # may a photo be described by the cloud model?
        announce=announcer(pipeline.synth, speaker),
    )


def _voice_loop(
    app: App,
    config: Config,
    pipeline: Pipeline,
    conversations: Conversations,
    devices: Hardware | None,
) -> VoiceLoop[Conversation]:
    """The listener over the wake words that made it, and the loop routing each wake."""
    wake = pipeline.wake
    if set(wake.names) != set(conversations.wake_words):
        # A persona that could not be made must not wake anyone: listen for the rest only.
        wake = load_wake_words(app.models, conversations.wake_words)
    listener = Listener(wake, pipeline.vad, ListenerSettings.from_config(config), pipeline.turn)
    _, conversation = conversations.for_wake(config.wake.model)
    loop = VoiceLoop(
        app.bus,
        listener,
        conversation,
        pipeline.stt,
        devices.hooks if devices else None,
        router=conversations.for_wake,
        is_stop=lambda text: recognize(text).intent is Intent.STOP,
    )
    # A button press cuts a reply short, as the wake word does.
    app.bus.on(lambda e: loop.conversation.stop() if isinstance(e, ButtonPressed) else None)
    return loop


async def recording_frames(audio: Audio) -> AsyncIterator[Audio]:
    """A recording as 80 ms frames (zero-padded), then a little silence."""
    tail = np.zeros(int(TAIL_SILENCE_S * SAMPLE_RATE), dtype=np.int16)
    padded = np.concatenate([audio, tail])
    padded = np.pad(padded, (0, (-padded.size) % FRAME_SAMPLES))
    for start in range(0, padded.size, FRAME_SAMPLES):
        yield padded[start : start + FRAME_SAMPLES]
        await asyncio.sleep(0)  # let turns and subscribers run between frames


class SilentVoice:
    """Synthesizer and speaker in one that makes no sound (text-only answers)."""

    sample_rate = 16000

    def synthesize(self, text: str) -> Audio:
        return np.zeros(0, dtype=np.int16)

    def play(self, speech: Speech) -> None:
        pass

    def stop(self) -> None:
        pass


class NoTranscriber:
    def transcribe(self, audio: Audio) -> str:
        return ""


@dataclass
class TextSession:
    """One persona's conversation with no ears and a silent voice (`ask`, scripts), and the
    `Conversations` it came from (their `for_text` makes others, as the daemon's page does)."""

    persona: Persona
    conversation: Conversation
    embedder: Embedder
    load_ms: float
    conversations: Conversations

    async def ask(self, question: str) -> dict[str, Any]:
        """The persona's answer, as `secondself ask --json` reports it."""
        return await answer_report(self.conversation, self.persona, self.embedder, question)


async def answer_report(
    conversation: Conversation, persona: Persona, embedder: Embedder, question: str
) -> dict[str, Any]:
    """A text conversation's answer to `question`: the answer, its personal score and
    parts, the sources, the backend, the turn's timings (ms)."""
    conversation.last_score = None  # this answer's score, never the one before it
    result = await conversation.answer(question)
    result.timings_ms.pop("first_audio", None)  # nothing is spoken here
    # Scored in the turn; "I don't know" (nothing answered, nothing to score) scores 0.
    parts = conversation.last_score or personal_score(result.reply, [], embedder)
    return {
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
        "timings_ms": {k: round(v, 1) for k, v in result.timings_ms.items()},
    }


@contextlib.contextmanager
def text_session(app: App) -> Iterator[TextSession]:
    """The conversation of `--user`/`--persona`, built as the daemon builds it (the same
    `Conversations`), with only the models a text answer needs; closed on exit."""
    household = app.household
    persona = household.persona(app.user, app.persona)  # unknown: a one-line error
    config = for_persona(app.config, persona)
    start = time.perf_counter()
    embedder = load_embedder(app.models, config.embed.model, config.embed.threads)
    answerer = load_answer_model(app.models, config)
    load_ms = (time.perf_counter() - start) * 1000
    pool = ModelPool.from_config(config, app.bus)
    pool.adopt(spec_for(app.models, config, persona.model), answerer, persona.name)
    voice = SilentVoice()
    shared = Shared(
        app.bus,
        app.config,
        app.models,
        NoTranscriber(),
        embedder,
        voice,
        pool,
        cloud=CloudAnswerModel.from_config(config, app.bus),
    )
    route = Route(app.user, persona.name)
    stores = OpenStores(household, embedder, app.bus)
    conversations = Conversations(household, shared, stores, route, {}, voice=voice)
    try:
        yield TextSession(persona, conversations.get(route), embedder, load_ms, conversations)
    finally:
        conversations.close()
        pool.close()  # the answer model it was handed
