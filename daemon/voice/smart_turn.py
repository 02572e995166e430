"""End of turn with Smart Turn v3 (the ONNX file the pipecat-ai wheel ships), on onnxruntime.

The input is made as pipecat's own inference makes it (pipecat/audio/turn/smart_turn/
local_smart_turn_v3.py and _whisper_features.py): the turn's last 8 s, zero-padded at the
front to 8 s, normalised to zero mean and unit variance, then Whisper's log-mel features
(80 bins, n_fft 400, hop 160, the last frame dropped): (1, 80, 800). faster-whisper's
extractor computes the same numbers (within 4e-6 of pipecat's; the probabilities agree to
four places). The output is the probability that the turn is complete.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from secondself.core.errors import Stage
from secondself.core.protocols import SAMPLE_RATE, Audio
from secondself.voice.onnx import cpu_session

if TYPE_CHECKING:
    from secondself.weights.manifest import ModelStore

WINDOW_S = 8
WINDOW_SAMPLES = WINDOW_S * SAMPLE_RATE
NORMALISE_EPSILON = 1e-7  # transformers' WhisperFeatureExtractor, as pipecat uses it


class SmartTurn:
    """An `EndOfTurn` over Smart Turn v3. Not thread-safe: ask it from one thread."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        from faster_whisper.feature_extractor import FeatureExtractor

        self._session = cpu_session(path, Stage.TURN, threads)
        self._features = FeatureExtractor(chunk_length=WINDOW_S)

    def complete_probability(self, audio: Audio) -> float:
        window = np.asarray(audio, dtype=np.int16).reshape(-1)[-WINDOW_SAMPLES:]
        samples = np.pad(window.astype(np.float32) / 32768.0, (WINDOW_SAMPLES - window.size, 0))
        samples = (samples - samples.mean()) / np.sqrt(samples.var() + NORMALISE_EPSILON)
        features = self._features(samples, padding=0)  # (80, 800)
        (probability,) = self._session.run(None, {"input_features": features[np.newaxis]})
        return float(np.asarray(probability).reshape(-1)[0])


def load_turn_model(store: ModelStore, name: str, threads: int = 1) -> SmartTurn:
    """`turn.model`: a model of the manifest, or a path to a Smart Turn v3 ONNX file."""
    return SmartTurn(store.resolve(name, Stage.TURN), threads)
