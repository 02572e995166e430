"""Load every model of the voice pipeline once, timing each, publishing ModelLoaded."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from secondself.answer.local_model import LlamaAnswerModel
from secondself.answer.pool import spec_for
from secondself.core.bus import Bus
from secondself.core.config import Config
from secondself.core.errors import Stage
from secondself.core.events import ModelLoaded
from secondself.core.protocols import Transcriber
from secondself.memory.embedding import LlamaEmbedder, load_embedder
from secondself.voice.smart_turn import SmartTurn, load_turn_model
from secondself.voice.stt import load_transcriber
from secondself.voice.tts import PiperSynthesizer
from secondself.voice.vad import SileroVad, load_vad
from secondself.voice.wake import OpenWakeWord, load_wake_words
from secondself.weights.manifest import ModelStore

T = TypeVar("T")


@dataclass
class Pipeline:
    wake: OpenWakeWord
    vad: SileroVad
    stt: Transcriber
    embedder: LlamaEmbedder
    answerer: LlamaAnswerModel
    synth: PiperSynthesizer
    turn: SmartTurn | None = None  # None: silence alone ends a turn (turn.model = "")
    load_seconds: dict[str, float] = field(default_factory=dict)


def load_answer_model(store: ModelStore, config: Config) -> LlamaAnswerModel:
    """`llm.model`: a model name from the manifest, or a path to any GGUF the user dropped in."""
    spec = spec_for(store, config)
    return LlamaAnswerModel(spec.path, spec.name, spec.threads, spec.context, spec.temperature)


def _warm(model: LlamaAnswerModel) -> LlamaAnswerModel:
    model.warm_up()
    return model


def load_pipeline(
    config: Config, store: ModelStore, bus: Bus, wake_words: Sequence[str] = ()
) -> Pipeline:
    """Every stage's model; the wake word model listens for `wake_words` (default: the
    configured one)."""
    seconds: dict[str, float] = {}
    words = list(wake_words) or [config.wake.model]

    def timed(name: str, role: str, load: Callable[[], T]) -> T:
        start = time.perf_counter()
        loaded = load()
        seconds[name] = time.perf_counter() - start
        bus.publish(ModelLoaded(model=name, role=role, seconds=seconds[name]))
        return loaded

    stt_name = "moonshine-base-en" if config.stt.engine == "moonshine" else config.stt.whisper_model
    pipeline = Pipeline(
        wake=timed(", ".join(words), "wake", lambda: load_wake_words(store, words)),
        vad=timed("silero-vad", "vad", lambda: load_vad(store)),
        turn=timed(
            config.turn.model,
            "turn",
            lambda: load_turn_model(store, config.turn.model, config.turn.threads),
        )
        if config.turn.model
        else None,
        stt=timed(
            stt_name,
            "stt",
            lambda: load_transcriber(
                store,
                config.stt.engine,
                config.stt.threads,
                config.stt.whisper_model,
                config.stt.beam_size,
            ),
        ),
        embedder=timed(
            config.embed.model,
            "embed",
            lambda: load_embedder(store, config.embed.model, config.embed.threads),
        ),
        answerer=timed(config.llm.model, "llm", lambda: _warm(load_answer_model(store, config))),
        synth=timed(
            config.tts.voice,
            "tts",
            lambda: PiperSynthesizer(store.resolve(config.tts.voice, Stage.TTS)),
        ),
    )
    pipeline.load_seconds = seconds
    return pipeline
