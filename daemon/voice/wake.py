"""Wake word detection with openWakeWord's ONNX models, run directly on onnxruntime.

openWakeWord itself cannot be installed here (its tflite-runtime dependency breaks), so this
module re-creates its streaming feature pipeline:

    80 ms of audio -> melspectrogram model (8 new mel frames, scaled by /10 + 2)
      -> embedding model over the last 76 mel frames (one 96-d embedding per 80 ms)
      -> wake word classifier over the last 16 embeddings -> score 0..1

Nothing is loaded at import time; sessions are made by `OpenWakeWord.__init__`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from secondself.core.errors import ModelError, Stage
from secondself.core.protocols import FRAME_SAMPLES, SAMPLE_RATE, Audio
from secondself.voice.onnx import cpu_session

if TYPE_CHECKING:
    from secondself.weights.manifest import ModelStore

MEL_BINS = 32
MEL_WINDOW = 76  # mel frames seen by one embedding (~775 ms)
EMBEDDING_DIM = 96
MEL_CONTEXT_SAMPLES = 3 * 160  # the mel model's 25 ms window needs 3 hops of past audio
WARMUP_FRAMES = 5  # openWakeWord reports 0 for the first frames after a reset: its buffers
# still hold filler then, and a score from them would mean nothing
FILLER_SECONDS = 2.2  # enough noise to make one classifier input of filler embeddings
FILLER_SEED = 1234  # fixed, so a reset is reproducible (openWakeWord draws fresh noise)

Floats = NDArray[np.float32]


class WakeFeatures:
    """openWakeWord's streaming front end: audio frames in, rolling embeddings out."""

    def __init__(self, melspec_path: Path, embedding_path: Path, history: int = 16) -> None:
        self._mel = cpu_session(melspec_path, Stage.WAKE)
        self._mel_input = self._mel.get_inputs()[0].name
        self._embed = cpu_session(embedding_path, Stage.WAKE)
        self._embed_input = self._embed.get_inputs()[0].name
        self.history = history
        self._filler = self._filler_embeddings()
        self.reset()

    def reset(self) -> None:
        # Same starting point as openWakeWord: mel buffer of ones, embeddings of quiet noise.
        self._audio_tail = np.zeros(0, dtype=np.float32)
        self._mels: Floats = np.ones((MEL_WINDOW, MEL_BINS), dtype=np.float32)
        self.embeddings: Floats = self._filler.copy()

    def push(self, frame: Audio) -> Floats:
        """Feed 1280 samples; returns the last `history` embeddings, shape (history, 96)."""
        audio = np.concatenate([self._audio_tail, frame.astype(np.float32)])
        self._audio_tail = audio[-MEL_CONTEXT_SAMPLES:]
        self._mels = np.concatenate([self._mels, self._melspectrogram(audio)])[-MEL_WINDOW:]
        window = self._mels[None, :, :, None]
        embedding = self._embed.run(None, {self._embed_input: window})[0].reshape(1, -1)
        self.embeddings = np.concatenate([self.embeddings, embedding])[-self.history :]
        return self.embeddings

    def _melspectrogram(self, audio: Floats) -> Floats:
        spec = self._mel.run(None, {self._mel_input: audio[None, :]})[0]
        # The /10 + 2 brings the ONNX port close to Google's original speech_embedding input.
        return np.asarray(spec.reshape(-1, MEL_BINS) / 10.0 + 2.0, dtype=np.float32)

    def _filler_embeddings(self) -> Floats:
        """Embeddings of quiet noise, as openWakeWord seeds its buffer with (batch of windows)."""
        rng = np.random.default_rng(FILLER_SEED)
        noise = rng.integers(-1000, 1000, int(FILLER_SECONDS * SAMPLE_RATE)).astype(np.float32)
        mels = self._melspectrogram(noise)
        starts = range(0, len(mels) - MEL_WINDOW + 1, 8)  # 8 mel frames = one 80 ms step
        windows = np.stack([mels[s : s + MEL_WINDOW] for s in starts])[:, :, :, None]
        out = self._embed.run(None, {self._embed_input: windows})[0]
        filler = np.asarray(out.reshape(-1, EMBEDDING_DIM)[-self.history :], dtype=np.float32)
        if len(filler) < self.history:
            raise ModelError("filler audio too short for the wake word classifier", Stage.WAKE)
        return filler


class OpenWakeWord:
    """openWakeWord classifiers on one shared feature pipeline (a `WakeWord`).

    Several wake words (one per persona the device answers to) cost little more than one:
    the melspectrogram and embedding models, nearly all of the work, run once per frame and
    each classifier reads the same embeddings. `name` is the wake word the last score is
    for (the best scoring one), so a wake says whose it was.

    Not thread-safe: feed it from one thread (the audio loop).
    """

    def __init__(
        self, classifiers: Mapping[str, Path], melspec_path: Path, embedding_path: Path
    ) -> None:
        if not classifiers:
            raise ModelError("no wake word to listen for", Stage.WAKE)
        self._classifiers: dict[str, _Classifier] = {
            name: _Classifier(path) for name, path in classifiers.items()
        }
        self.names = tuple(self._classifiers)
        history = max(c.history for c in self._classifiers.values())
        self._features = WakeFeatures(melspec_path, embedding_path, history=history)
        self._pending = np.zeros(0, dtype=np.int16)
        self._frames_seen = 0
        self._last = (self.names[0], 0.0)

    @property
    def name(self) -> str:
        return self._last[0]

    def process(self, frame: Audio) -> float:
        """Score for one 80 ms frame. Other lengths work too: audio is cut into 80 ms steps,
        and the best score of the steps completed is returned (the last one if none)."""
        audio = np.concatenate([self._pending, frame]) if len(self._pending) else frame
        steps = len(audio) // FRAME_SAMPLES
        self._pending = audio[steps * FRAME_SAMPLES :].copy()
        if steps == 0:
            return self._last[1]
        best = max(
            (self._step(audio[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES]) for i in range(steps)),
            key=lambda scored: scored[1],
        )
        self._last = best
        return best[1]

    def reset(self) -> None:
        """Forget what was heard: the next `WARMUP_FRAMES` frames score 0."""
        self._features.reset()
        self._pending = np.zeros(0, dtype=np.int16)
        self._frames_seen = 0
        self._last = (self._last[0], 0.0)

    def _step(self, frame: Audio) -> tuple[str, float]:
        embeddings = self._features.push(frame)
        self._frames_seen += 1
        if self._frames_seen <= WARMUP_FRAMES:
            return (self._last[0], 0.0)
        scores = [(name, c.score(embeddings)) for name, c in self._classifiers.items()]
        return max(scores, key=lambda scored: scored[1])


class _Classifier:
    """One wake word's model: the last `history` embeddings in, a score 0..1 out."""

    def __init__(self, path: Path) -> None:
        self._session = cpu_session(path, Stage.WAKE)
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        history = model_input.shape[1]  # embeddings per decision: 16 for the stock models
        self.history = history if isinstance(history, int) else 16

    def score(self, embeddings: Floats) -> float:
        window = embeddings[-self.history :][None, :, :]
        return float(self._session.run(None, {self._input_name: window})[0].reshape(-1)[0])


def load_wake_words(store: ModelStore, names: Iterable[str]) -> OpenWakeWord:
    """Several wake words on one feature pipeline (each name once, in the order given)."""
    return OpenWakeWord(
        classifiers={name: store.path(name) for name in dict.fromkeys(names)},
        melspec_path=store.path("oww-melspectrogram"),
        embedding_path=store.path("oww-embedding"),
    )
