"""Endpointing after the wake word: when did the user start and stop talking?

A pure state machine over (speech probability, frame duration): no audio, no clock, no
sleeps, so it is tested with plain lists of numbers. The caller runs the VAD, feeds each
frame's probability here, keeps the frames, and when the machine finishes cuts the utterance
out of them with `Endpoint.start_frame:end_frame` (frame indices counted from the first
frame fed).

    WAITING_FOR_SPEECH --speech for min_speech_s--> IN_SPEECH <--speech-- TRAILING_SILENCE
           |                                           |  --silence-->        |
           | no_speech_timeout_s                       | max_utterance_s      | trailing_silence_s
           v                                           v                      v
       TIMED_OUT (NO_SPEECH)                       DONE (CUT)             DONE (ENDED)

The same machine with `no_speech_timeout_s` set to the follow-up window listens for a
follow-up question without the wake word. Shape after Home Assistant's assist_pipeline/vad.py.

`end_pause_after` changes how much silence ends the current pause (an end-of-turn model's
verdict on it: less for a finished sentence, more for an unfinished one); speech coming
back restores `trailing_silence_s` for the next pause.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from secondself.core.config import VadConfig

EPSILON = 1e-9  # sums of 0.08 s frames are not exact in floating point


class State(StrEnum):
    WAITING_FOR_SPEECH = "waiting_for_speech"
    IN_SPEECH = "in_speech"
    TRAILING_SILENCE = "trailing_silence"
    DONE = "done"
    TIMED_OUT = "timed_out"


class Outcome(StrEnum):
    ENDED = "ended"  # speech, then trailing silence
    CUT = "cut"  # still talking at max_utterance_s
    NO_SPEECH = "no_speech"  # nothing heard within no_speech_timeout_s


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    threshold: float = 0.5  # speech probability that counts as speech
    trailing_silence_s: float = 0.6  # silence that ends an utterance
    max_utterance_s: float = 15.0  # an utterance is cut here (measured from speech start)
    no_speech_timeout_s: float = 4.0  # give up if no speech starts within this
    min_speech_s: float = 0.16  # shorter bursts (a click, a cough) do not start speech
    pre_roll_s: float = 0.32  # kept before speech start: VADs react late to soft onsets
    post_roll_s: float = 0.16  # kept after the last speech frame: soft word endings

    @classmethod
    def from_config(cls, vad: VadConfig, follow_up: bool = False) -> EndpointSettings:
        """Settings from the [vad] config; `follow_up` uses the follow-up window as timeout."""
        return cls(
            threshold=vad.threshold,
            trailing_silence_s=vad.trailing_silence_s,
            max_utterance_s=vad.max_utterance_s,
            no_speech_timeout_s=vad.follow_up_s if follow_up else vad.no_speech_timeout_s,
        )

    def with_timeout(self, no_speech_timeout_s: float) -> EndpointSettings:
        return replace(self, no_speech_timeout_s=no_speech_timeout_s)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """How listening ended, and which frames (start_frame:end_frame) hold the utterance."""

    outcome: Outcome
    start_frame: int  # includes the pre-roll
    end_frame: int  # exclusive; includes the post-roll
    speech_s: float  # time from the start of speech to its end (without pre/post-roll)

    @property
    def heard(self) -> bool:
        return self.outcome is not Outcome.NO_SPEECH

    @property
    def frames(self) -> slice:
        return slice(self.start_frame, self.end_frame)


class Endpointer:
    """Feed `update(probability, duration_s)` once per frame until `finished`."""

    def __init__(self, settings: EndpointSettings | None = None) -> None:
        self.settings = settings or EndpointSettings()
        self.state = State.WAITING_FOR_SPEECH
        self.result: Endpoint | None = None
        self._frames = 0  # frames fed so far; the index of the next frame
        self._frame_s = 0.0  # duration of the latest frame, to turn roll times into frames
        self._waited_s = 0.0  # time spent waiting for speech
        self._run_start = -1  # first frame of the current speech run while waiting, or -1
        self._run_s = 0.0  # length of that run
        self._speech_start = 0  # first frame of confirmed speech
        self._last_speech = 0  # last frame above the threshold
        self._speech_s = 0.0  # time since speech started
        self._silence_s = 0.0  # time since the last speech frame
        self._ends_after_s = self.settings.trailing_silence_s  # silence that ends this pause

    @property
    def finished(self) -> bool:
        return self.state in (State.DONE, State.TIMED_OUT)

    @property
    def keep_from(self) -> int:
        """The oldest frame the caller still needs; earlier frames can be dropped."""
        if self.result is not None:
            return self.result.start_frame
        if self.state is State.WAITING_FOR_SPEECH:
            first = self._run_start if self._run_start >= 0 else self._frames
            return max(0, first - self._pre_roll_frames())
        return self._start_frame()

    def update(self, probability: float, duration_s: float) -> State:
        """Advance by one frame of `duration_s` seconds whose speech probability is given."""
        if self.finished:
            return self.state
        self._frame_s = duration_s
        index = self._frames
        self._frames += 1
        speech = probability >= self.settings.threshold
        if self.state is State.WAITING_FOR_SPEECH:
            self._wait(index, speech, duration_s)
        else:
            self._listen(index, speech, duration_s)
        return self.state

    def end_pause_after(self, silence_s: float) -> None:
        """The pause under way ends the utterance after `silence_s` of silence (counted from
        its start); a pause already that long ends at the next frame."""
        if self.state is State.TRAILING_SILENCE:
            self._ends_after_s = silence_s

    def _wait(self, index: int, speech: bool, duration_s: float) -> None:
        self._waited_s += duration_s
        if speech:
            if self._run_start < 0:
                self._run_start, self._run_s = index, 0.0
            self._run_s += duration_s
            if self._run_s >= self.settings.min_speech_s - EPSILON:
                self._start_speech(index)
                return
        else:
            self._run_start, self._run_s = -1, 0.0  # a blip too short to be speech
        # A run still in progress gets the chance to become speech before giving up.
        timed_out = self._waited_s >= self.settings.no_speech_timeout_s - EPSILON
        if timed_out and self._run_start < 0:
            self._finish(State.TIMED_OUT, Outcome.NO_SPEECH, self._frames, self._frames)

    def _start_speech(self, index: int) -> None:
        self.state = State.IN_SPEECH
        self._speech_start = self._run_start
        self._speech_s = self._run_s
        self._last_speech = index
        self._silence_s = 0.0

    def _listen(self, index: int, speech: bool, duration_s: float) -> None:
        self._speech_s += duration_s
        if speech:
            self.state, self._last_speech, self._silence_s = State.IN_SPEECH, index, 0.0
            self._ends_after_s = self.settings.trailing_silence_s
        else:
            self.state = State.TRAILING_SILENCE
            self._silence_s += duration_s
        if self._speech_s >= self.settings.max_utterance_s - EPSILON:
            self._finish(State.DONE, Outcome.CUT, self._start_frame(), self._frames)
        elif self._silence_s >= self._ends_after_s - EPSILON:
            end = min(self._frames, self._last_speech + 1 + self._post_roll_frames())
            self._finish(State.DONE, Outcome.ENDED, self._start_frame(), end)

    def _finish(self, state: State, outcome: Outcome, start: int, end: int) -> None:
        self.state = state
        speech_s = 0.0 if outcome is Outcome.NO_SPEECH else self._speech_s - self._silence_s
        self.result = Endpoint(outcome, start, end, max(0.0, speech_s))

    def _start_frame(self) -> int:
        return max(0, self._speech_start - self._pre_roll_frames())

    def _pre_roll_frames(self) -> int:
        return self._frames_for(self.settings.pre_roll_s)

    def _post_roll_frames(self) -> int:
        return self._frames_for(self.settings.post_roll_s)

    def _frames_for(self, seconds: float) -> int:
        if self._frame_s <= 0:
            return 0
        return math.ceil(seconds / self._frame_s - EPSILON)
