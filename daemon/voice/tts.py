"""Text to speech with piper, one sentence at a time.

The voice's ONNX session is made here rather than by `PiperVoice.load`, for two settings
piper does not expose: no memory arena (every sentence has a new length, and the arena kept
200 MB more resident and grew in a soak) and an explicit thread count whose idle threads
do not spin, as for every other model (`onnx.cpu_session`). Measured in docs/benchmarks.md,
"Resident memory in the soak".
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from secondself.core.errors import ModelError, Stage
from secondself.core.protocols import Audio
from secondself.voice.onnx import cpu_session

THREADS = 2  # piper's own default on two cores; a reply's first sentence waits on it


class PiperSynthesizer:
    def __init__(self, path: Path, threads: int = THREADS, arena: bool = False) -> None:
        """`arena=True` is piper's own way (benchmarks compare the two)."""
        from piper import PiperConfig, PiperVoice
        from piper.phonemize_espeak import ESPEAK_DATA_DIR

        config_path = Path(f"{path}.json")
        try:
            config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            message = f"cannot load piper voice config {config_path}: {exc}"
            raise ModelError(message, Stage.TTS) from exc
        session = cpu_session(path, Stage.TTS, threads, arena=arena)
        self._voice = PiperVoice(
            session=session,
            config=config,
            espeak_data_dir=Path(ESPEAK_DATA_DIR),
            download_dir=path.parent,  # only Arabic voices fetch anything there
        )
        self.sample_rate: int = int(self._voice.config.sample_rate)
        self._lock = threading.Lock()  # one onnxruntime run at a time per voice

    def synthesize(self, text: str) -> Audio:
        with self._lock:
            chunks = [chunk.audio_int16_array for chunk in self._voice.synthesize(text)]
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(chunks).astype(np.int16, copy=False)
