"""A voice memo: record 80 ms frames until the user stops talking, a press, or the limit.

A pure state machine over frames (the endpointer over the VAD's probabilities), like the
listener: no clock, no threads. The voice loop hands it the microphone's frames while a
memo is being recorded (see `voice_hooks.VoiceHooks`), so it runs on the listener thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from secondself.core.protocols import FRAME_SAMPLES, SAMPLE_RATE, Audio, VoiceActivity
from secondself.voice.endpointing import Endpointer, EndpointSettings, Outcome, State

FRAME_S = FRAME_SAMPLES / SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class MemoSettings:
    silence_s: float = 1.5  # memos have pauses: longer than a command's trailing silence
    max_s: float = 60.0
    no_speech_s: float = 5.0  # after the listening sound, give up if nothing is said
    threshold: float = 0.5

    def endpoint(self) -> EndpointSettings:
        return EndpointSettings(
            threshold=self.threshold,
            trailing_silence_s=self.silence_s,
            max_utterance_s=self.max_s,
            no_speech_timeout_s=self.no_speech_s,
        )


@dataclass(frozen=True, slots=True)
class Memo:
    audio: Audio  # empty when nothing was heard
    speech_s: float
    reason: str  # "silence" | "max-length" | "button" | "nothing-heard"

    @property
    def heard(self) -> bool:
        return self.audio.size > 0


class MemoRecorder:
    def __init__(self, vad: VoiceActivity, settings: MemoSettings | None = None) -> None:
        self.vad = vad
        self.settings = settings or MemoSettings()
        self.result: Memo | None = None
        self._endpointer = Endpointer(self.settings.endpoint())
        self._frames: list[Audio] = []
        self._offset = 0  # frames dropped from the front while waiting for speech
        vad.reset()

    @property
    def finished(self) -> bool:
        return self.result is not None

    def feed(self, frame: Audio) -> bool:
        """One frame; True once the memo is finished (then `result` holds it)."""
        if self.result is not None:
            return True
        self._frames.append(frame)
        self._endpointer.update(self.vad.speech_probability(frame), FRAME_S)
        if self._endpointer.finished:
            end = self._endpointer.result
            assert end is not None
            reason = {
                Outcome.ENDED: "silence",
                Outcome.CUT: "max-length",
                Outcome.NO_SPEECH: "nothing-heard",
            }[end.outcome]
            self._finish(end.frames if end.heard else slice(0, 0), end.speech_s, reason)
        else:
            drop = self._endpointer.keep_from - self._offset
            if drop > 0:  # silence before speech is not kept
                del self._frames[:drop]
                self._offset += drop
        return self.result is not None

    def stop(self) -> None:
        """The user pressed the button again: keep what was said so far."""
        if self.result is not None:
            return
        if self._endpointer.state in (State.IN_SPEECH, State.TRAILING_SILENCE):
            start = self._endpointer.keep_from
            speech_s = (len(self._frames) + self._offset - start) * FRAME_S
            self._finish(slice(start, len(self._frames) + self._offset), speech_s, "button")
        else:
            self._finish(slice(0, 0), 0.0, "nothing-heard")

    def _finish(self, frames: slice, speech_s: float, reason: str) -> None:
        start = max(0, (frames.start or 0) - self._offset)
        stop = max(0, (frames.stop or 0) - self._offset)
        chunk = self._frames[start:stop]
        audio = np.concatenate(chunk) if chunk else np.zeros(0, dtype=np.int16)
        self.result = Memo(audio, speech_s if chunk else 0.0, reason if chunk else "nothing-heard")
        self._frames = []
