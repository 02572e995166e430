"""Small fakes behind the stage Protocols, for orchestration tests only."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import numpy as np

from secondself.answer.prompt import Source
from secondself.core.bus import Bus
from secondself.core.events import MemoryForgotten, MemorySaved
from secondself.core.protocols import Audio, ChatMessage, Speech
from secondself.memory.model import Kind, Origin


class ScriptedTranscriber:
    def __init__(self, texts: Sequence[str]) -> None:
        self._texts = list(texts)

    def transcribe(self, audio: Audio) -> str:
        return self._texts.pop(0)


STOPWORDS = frozenset(
    [
        "a",
        "about",
        "and",
        "are",
        "how",
        "is",
        "me",
        "my",
        "old",
        "tell",
        "the",
        "what",
        "who",
        "you",
    ]
)


class ListMemory:
    """Keeps memories in a dict; recall = every memory sharing a word with the question.
    Publishes MemorySaved/MemoryForgotten as the real store does."""

    def __init__(self, bus: Bus, memories: Sequence[str] = (), similarity: float = 0.55) -> None:
        self.bus = bus
        self.similarity = similarity  # below the direct-answer threshold: the model answers
        self.memories: dict[int, str] = {}
        self.kinds: dict[int, Kind] = {}
        self.corrects: dict[int, int | None] = {}
        self.turns: list[tuple[str, str, list[int]]] = []
        self.forgets = 0  # the forget epoch: forgets so far
        for text in memories:
            self.remember(text, "cli")

    def recall(self, question: str, k: int) -> list[Source]:
        def words(text: str) -> set[str]:  # content words only, without 's
            found = {w.removesuffix("'s") for w in text.lower().strip("?.!").split()}
            return found - STOPWORDS

        hits = [
            Source(i, text, "2026-11-25", self.similarity)
            for i, text in self.memories.items()
            if words(question) & words(text)
        ]
        return hits[:k]

    def remember(
        self, text: str, origin: Origin, kind: Kind = Kind.NOTE, corrects: int | None = None
    ) -> int:
        memory_id = len(self.memories) + len(self.turns) + 1
        self.memories[memory_id] = text
        self.kinds[memory_id] = kind
        self.corrects[memory_id] = corrects
        self.bus.publish(MemorySaved(memory_id=memory_id, kind=kind, source=origin))
        return memory_id

    def remember_turn(self, question: str, answer: str, source_ids: list[int]) -> None:
        self.turns.append((question, answer, source_ids))

    def forget_matching(self, text: str) -> list[int]:
        ids = [i for i, t in self.memories.items() if text.lower() in t.lower()]
        for i in ids:
            del self.memories[i]
        if ids:
            self.forgets += 1
            self.bus.publish(MemoryForgotten(memory_ids=tuple(ids)))
        return ids

    def forget_epoch(self) -> int:
        return self.forgets


class ScriptedAnswerModel:
    """Yields the scripted pieces; can hold after a piece until the test releases it."""

    name = "scripted"

    def __init__(self, pieces: Sequence[str], hold_after: int | None = None) -> None:
        self.pieces = list(pieces)
        self.hold_after = hold_after
        self.release = threading.Event()
        self.finished = threading.Event()
        self.seen: list[list[ChatMessage]] = []

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int) -> Iterator[str]:
        self.seen.append(list(messages))
        self.finished.clear()
        for index, piece in enumerate(self.pieces):
            yield piece
            if index == self.hold_after:
                self.release.wait(5)
        self.finished.set()


class ToneSynthesizer:
    """Speech whose length follows the text, so tests can tell sentences apart."""

    sample_rate = 16000

    def __init__(self) -> None:
        self.spoken: list[str] = []

    def synthesize(self, text: str) -> Audio:
        self.spoken.append(text)
        return np.full(len(text) * 10, 1000, dtype=np.int16)


class RecordingSpeaker:
    """Records what it plays; `hold=True` blocks each play until `stop()` (barge-in tests)."""

    def __init__(self, hold: bool = False) -> None:
        self.played: list[Speech] = []
        self.hold = hold
        self.started = threading.Event()
        self._stopped = threading.Event()
        self.on_play: list[object] = []

    def play(self, speech: Speech) -> None:
        self.played.append(speech)
        self.started.set()
        for callback in self.on_play:
            callback()  # type: ignore[operator]
        if self.hold:
            self._stopped.wait(5)

    def stop(self) -> None:
        self._stopped.set()


# Frames for listener tests: the first sample marks what the frame "contains".
WAKE, SPEECH, QUIET = 3, 2, 0


def frame(kind: int) -> Audio:
    audio = np.zeros(1280, dtype=np.int16)
    audio[0] = kind
    return audio


class MarkedWakeWord:
    """Scores 1.0 on frames marked WAKE (stays high for a few frames, like the real one)."""

    name = "marked"

    def __init__(self) -> None:
        self.resets = 0
        self.heard: list[int] = []  # the marks of every frame it processed

    def process(self, frame: Audio) -> float:
        self.heard.append(int(frame[0]))
        return 1.0 if frame[0] == WAKE else 0.0

    def reset(self) -> None:
        self.resets += 1


def marks(audio: Audio) -> list[int]:
    """The marks of the marked frames in `audio`."""
    return [int(audio[i]) for i in range(0, audio.size, 1280)]


class ScriptedTurnEnd:
    """An EndOfTurn answering from a script, one probability per pause; keeps what it heard
    (the marks of the frames it was given)."""

    def __init__(self, probabilities: Sequence[float]) -> None:
        self._probabilities = list(probabilities)
        self.heard: list[list[int]] = []

    def complete_probability(self, audio: Audio) -> float:
        self.heard.append(marks(audio))
        return self._probabilities.pop(0)


class MarkedVad:
    def speech_probability(self, frame: Audio) -> float:
        return 0.9 if frame[0] in (SPEECH, WAKE) else 0.05  # a wake word is speech too

    def reset(self) -> None:
        pass
