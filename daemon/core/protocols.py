"""One narrow Protocol per stage. Real implementations and small test fakes both fit these.

Audio is 16 kHz mono int16 unless a signature says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

SAMPLE_RATE = 16000
FRAME_SAMPLES = 1280  # 80 ms: openWakeWord's frame, and the pipeline's audio unit

Audio = NDArray[np.int16]
Vector = NDArray[np.float32]


class WakeWord(Protocol):
    @property
    def name(self) -> str:
        """The wake word the last score is for (one model may listen for several)."""
        ...

    def process(self, frame: Audio) -> float:
        """Feed one 80 ms frame; returns the wake score (0..1) for it."""
        ...

    def reset(self) -> None:
        """Forget the audio heard so far (after a wake, or after our own playback)."""
        ...


class VoiceActivity(Protocol):
    def speech_probability(self, frame: Audio) -> float:
        """Probability (0..1) that an 80 ms frame holds speech."""
        ...

    def reset(self) -> None: ...


class EndOfTurn(Protocol):
    def complete_probability(self, audio: Audio) -> float:
        """Probability (0..1) that the speaker finished their turn where `audio` (the turn
        so far, ending in the pause just heard) ends; under 0.5: they are not done."""
        ...


class Transcriber(Protocol):
    def transcribe(self, audio: Audio) -> str: ...


class Embedder(Protocol):
    name: str  # recorded with stored vectors: a different model means re-embedding
    dimensions: int

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One L2-normalised row per text."""
        ...


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


class AnswerModel(Protocol):
    name: str

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int) -> Iterator[str]:
        """Yields answer text pieces as they are generated (runs in a worker thread)."""
        ...


@dataclass(frozen=True, slots=True)
class Speech:
    audio: Audio
    sample_rate: int


class Synthesizer(Protocol):
    sample_rate: int

    def synthesize(self, text: str) -> Audio: ...


class Speaker(Protocol):
    def play(self, speech: Speech) -> None:
        """Plays to the end or until `stop()` is called from another thread."""
        ...

    def stop(self) -> None: ...
