"""Text to speech with piper, one sentence at a time."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from secondself.errors import ModelError, Stage
from secondself.protocols import Audio


class PiperSynthesizer:
    def __init__(self, path: Path) -> None:
        from piper import PiperVoice

        try:
            self._voice = PiperVoice.load(str(path))
        except Exception as exc:  # piper raises plain errors for a bad or missing voice
            raise ModelError(f"cannot load piper voice {path}: {exc}", Stage.TTS) from exc
        self.sample_rate: int = int(self._voice.config.sample_rate)
        self._lock = threading.Lock()  # one onnxruntime run at a time per voice

    def synthesize(self, text: str) -> Audio:
        with self._lock:
            chunks = [chunk.audio_int16_array for chunk in self._voice.synthesize(text)]
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(chunks).astype(np.int16, copy=False)
