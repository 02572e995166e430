"""Voice activity with Silero VAD v6 (the ONNX file faster-whisper ships), on onnxruntime.

The model reads 512-sample chunks (32 ms at 16 kHz), each preceded by the 64 samples before
it, and carries an LSTM state (h, c) from chunk to chunk. Its first input axis is a sequence:
several chunks in one call are run in order with the state passed along, which gives the same
numbers as one call per chunk, for a fraction of the overhead.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from secondself.core.errors import Stage
from secondself.core.protocols import Audio
from secondself.voice.onnx import cpu_session

if TYPE_CHECKING:
    from secondself.weights.manifest import ModelStore

CHUNK = 512
CONTEXT = 64
STATE_SHAPE = (1, 1, 128)

Floats = NDArray[np.float32]


class SileroVad:
    """A `VoiceActivity` over Silero VAD v6. Not thread-safe: feed it from one thread."""

    def __init__(self, path: Path) -> None:
        self._session = cpu_session(path, Stage.VAD)
        self.reset()

    def reset(self) -> None:
        self._h: Floats = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._c: Floats = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._context: Floats = np.zeros(CONTEXT, dtype=np.float32)
        self._pending: Floats = np.zeros(0, dtype=np.float32)
        self._last = 0.0

    def speech_probability(self, frame: Audio) -> float:
        """Max speech probability over the 512-sample chunks completed by this frame.

        An 80 ms frame (1280 samples) completes 2 or 3 chunks; the rest waits for the next.
        """
        audio = np.concatenate([self._pending, frame.astype(np.float32) / 32768.0])
        n = len(audio) // CHUNK
        self._pending = audio[n * CHUNK :]
        if n == 0:
            return self._last
        probs = self._run(audio[: n * CHUNK])
        self._last = float(probs[-1])
        return float(probs.max())

    def _run(self, audio: Floats) -> Floats:
        """Run whole chunks in one call, each with its 64 samples of left context."""
        stream = np.concatenate([self._context, audio])
        self._context = stream[-CONTEXT:]
        starts = range(0, len(audio), CHUNK)
        batch = np.stack([stream[s : s + CONTEXT + CHUNK] for s in starts])
        probs, self._h, self._c = self._session.run(
            None, {"input": batch, "h": self._h, "c": self._c}
        )
        return np.asarray(probs, dtype=np.float32).reshape(-1)


def load_vad(store: ModelStore) -> SileroVad:
    return SileroVad(store.path("silero-vad"))
