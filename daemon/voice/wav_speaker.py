"""A Speaker that writes replies to WAV files instead of a sound card (`listen --out`)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from secondself.core.events import Event, SpeakingDone
from secondself.core.protocols import Audio, Speech
from secondself.voice.audio_file import write_wav


class ReplyRecorder:
    """Collects the sentences of each reply and writes one WAV per reply.

    Subscribe it to the bus: a SpeakingDone event closes the current reply's file. With no
    folder it keeps nothing (the replies are only in the event log).
    """

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.files: list[Path] = []
        self._pieces: list[Audio] = []
        self._rate = 0
        self._lock = threading.Lock()

    def play(self, speech: Speech) -> None:
        if self.folder is None:
            return
        with self._lock:
            self._pieces.append(speech.audio)
            self._rate = speech.sample_rate

    def stop(self) -> None:
        pass  # nothing is playing: files are written whole

    def __call__(self, event: Event) -> None:
        if isinstance(event, SpeakingDone):
            self.flush()

    def flush(self) -> Path | None:
        with self._lock:
            if self.folder is None or not self._pieces:
                return None
            audio = np.concatenate(self._pieces)
            self._pieces = []
            path = self.folder / f"reply-{len(self.files) + 1:02d}.wav"
            write_wav(path, audio, self._rate)
            self.files.append(path)
            return path
