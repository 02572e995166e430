"""Turn-taking over audio frames: wake word, endpointing, follow-ups and barge-in.

A pure state machine over (frame, frame count): no clock, no threads, no sleeps. The voice
loop feeds it 80 ms frames and acts on the signals it returns; tests feed it recordings.

With an end-of-turn model, the first silent frame of each pause asks it whether the turn so
far is a finished sentence: if so the pause ends the turn after a short silence and work on
the answer starts at once (Paused); if not it waits longer before cutting the user off.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np

from secondself.core.config import Config
from secondself.core.protocols import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    Audio,
    EndOfTurn,
    VoiceActivity,
    WakeWord,
)
from secondself.voice.endpointing import Endpointer, EndpointSettings, Outcome, State

FRAME_S = FRAME_SAMPLES / SAMPLE_RATE


class Mode(StrEnum):
    IDLE = "idle"  # waiting for the wake word
    LISTENING = "listening"  # endpointing what the user says (after a wake, or a follow-up)
    BUSY = "busy"  # a reply is being made or spoken: only the wake word or "stop" count


@dataclass(frozen=True, slots=True)
class TurnSettings:
    """How a pause ends with an end-of-turn model (without one: trailing_silence_s)."""

    threshold: float = 0.5  # the model's probability above which the sentence is finished
    complete_silence_s: float = 0.24  # then this much silence ends the turn
    incomplete_silence_s: float = 2.0  # else the user gets this long to go on

    @classmethod
    def from_config(cls, config: Config) -> TurnSettings:
        turn = config.turn
        return cls(turn.threshold, turn.complete_silence_s, turn.incomplete_silence_s)


@dataclass(frozen=True, slots=True)
class ListenerSettings:
    wake_threshold: float = 0.5
    refractory_s: float = 2.0  # one "Hey Jarvis" is one wake, however long it scores high
    endpoint: EndpointSettings = field(default_factory=EndpointSettings)
    turn: TurnSettings = field(default_factory=TurnSettings)
    follow_up_s: float = 5.0  # listen this long after a reply without the wake word; 0 = off
    pre_wake_s: float = 0.24  # audio before the wake fired, for users who do not pause
    stop_max_s: float = 1.5  # while busy, only utterances this short may be "stop"
    # Start working on an utterance after this much trailing silence, before the endpoint
    # is sure (trailing_silence_s): the answer is ready sooner. 0 = off.
    speculate_after_s: float = 0.25
    # While idle the wake word sleeps through silence (most of a day): it wakes when the VAD
    # hears speech and first catches up on the last `wake_catch_up_s` of audio, so the start
    # of "Hey Jarvis" is not lost. 0 = the wake word hears every frame.
    wake_gate: float = 0.2
    wake_catch_up_s: float = 1.6
    wake_hangover_s: float = 2.0

    @classmethod
    def from_config(cls, config: Config) -> ListenerSettings:
        return cls(
            wake_threshold=config.wake.threshold,
            refractory_s=config.wake.refractory_s,
            endpoint=EndpointSettings.from_config(config.vad),
            turn=TurnSettings.from_config(config),
            follow_up_s=config.vad.follow_up_s,
            speculate_after_s=config.vad.speculate_after_s,
        )


# --- signals ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Woke:
    score: float
    barge_in: bool  # the wake word interrupted a reply
    word: str  # which wake word: it says whose persona was called


@dataclass(frozen=True, slots=True)
class Heard:
    audio: Audio
    speech_s: float
    cut: bool  # still talking at the maximum length
    follow_up: bool


@dataclass(frozen=True, slots=True)
class MaybeStop:
    """A short utterance while busy: transcribe it, and stop the reply if it says so."""

    audio: Audio


@dataclass(frozen=True, slots=True)
class Paused:
    """The user paused: perhaps done. Work may start on `audio`, but say nothing yet."""

    audio: Audio


@dataclass(frozen=True, slots=True)
class Resumed:
    """The user went on talking after a pause: drop the work started on it."""


@dataclass(frozen=True, slots=True)
class GaveUp:
    waited_s: float
    follow_up: bool


Signal = Woke | Heard | MaybeStop | Paused | Resumed | GaveUp


class Listener:
    def __init__(
        self,
        wake: WakeWord,
        vad: VoiceActivity,
        settings: ListenerSettings | None = None,
        turn: EndOfTurn | None = None,
    ) -> None:
        self.wake = wake
        self.vad = vad
        self.turn = turn  # None: every pause waits the endpoint's trailing_silence_s
        self.settings = settings or ListenerSettings()
        self.mode = Mode.IDLE
        self.muted = False
        self._refractory_frames = 0
        self._pre_wake_frames = max(1, round(self.settings.pre_wake_s / FRAME_S))
        catch_up = max(self._pre_wake_frames, round(self.settings.wake_catch_up_s / FRAME_S))
        # The latest idle audio: what a sleeping wake word catches up on, and the pre-wake.
        self._heard: deque[Audio] = deque(maxlen=catch_up)
        self._wake_awake_frames = 0  # frames left before the wake word sleeps again
        self._wake_asleep = True
        self._frames: list[Audio] = []  # frames since listening began
        self._pre_wake: list[Audio] = []
        self._offset = 0  # frames dropped from the front of _frames
        self._endpointer: Endpointer | None = None
        self._follow_up = False
        # In a follow-up window the wake word still counts: another persona may be called.
        self._wake_in_follow_up = False
        self._quiet_frames = 0  # consecutive non-speech frames since speech started
        self._paused = False  # a Paused signal is out and not yet resumed
        self._pause_judged = False  # the turn model has heard the pause under way

    def reconfigure(self, settings: ListenerSettings) -> None:
        """A reload (SIGHUP): the next frame is heard with these (the frame sizes they set at
        start, pre-wake and catch-up, stay as they were; a turn under way keeps its
        endpoint settings)."""
        self.settings = settings

    # -- called by the voice loop ----------------------------------------------------------

    def feed(self, frame: Audio) -> list[Signal]:
        if self.muted:
            return []
        if self._refractory_frames > 0:
            self._refractory_frames -= 1
        match self.mode:
            case Mode.IDLE:
                return self._idle(frame)
            case Mode.LISTENING:
                return self._listening(frame)
            case Mode.BUSY:
                return self._busy(frame)

    def reply_finished(self) -> None:
        """The reply ended: listen for a follow-up without the wake word (or go idle)."""
        if self.mode is not Mode.BUSY:
            return  # a barge-in already moved on
        # Our own voice may linger in the wake word's buffers; do not wake on it.
        self.wake.reset()
        if self.settings.follow_up_s > 0:
            self._listen(follow_up=True)
        else:
            self._go_idle()

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        self._go_idle()

    def listen_now(self, timeout_s: float) -> None:
        """From idle: one utterance without the wake word (a photo's caption); GaveUp after
        `timeout_s` of nothing."""
        if self.mode is not Mode.IDLE:
            return
        self.mode, self._follow_up, self._pre_wake = Mode.LISTENING, True, []
        self._wake_in_follow_up = False  # a caption, not a conversation
        self._begin(self.settings.endpoint.with_timeout(timeout_s))

    def go_idle(self) -> None:
        """Back to waiting for the wake word (after an utterance the device took)."""
        self._go_idle()

    # -- modes -----------------------------------------------------------------------------

    def _idle(self, frame: Audio) -> list[Signal]:
        self._heard.append(frame)
        for audio in self._wake_input(frame):
            score = self._wake_score(audio)
            if score is not None:
                self._pre_wake = list(self._heard)[-self._pre_wake_frames :]
                self._listen(follow_up=False)
                return [Woke(score, barge_in=False, word=self.wake.name)]
        return []

    def _wake_input(self, frame: Audio) -> list[Audio]:
        """The frames the wake word should hear now: none in silence; on the first speech,
        the audio it slept through, then this frame."""
        gate = self.settings.wake_gate
        if gate <= 0:
            return [frame]
        if self.vad.speech_probability(frame) >= gate:
            self._wake_awake_frames = round(self.settings.wake_hangover_s / FRAME_S)
        elif self._wake_awake_frames > 0:
            self._wake_awake_frames -= 1
        else:
            self._wake_asleep = True
            return []
        if self._wake_asleep:
            self._wake_asleep = False
            self.wake.reset()
            return list(self._heard)
        return [frame]

    def _busy(self, frame: Audio) -> list[Signal]:
        score = self._wake_score(frame)
        if score is not None:
            self._pre_wake = []
            self._listen(follow_up=False)
            return [Woke(score, barge_in=True, word=self.wake.name)]
        # Watch for a short "stop" said over the reply.
        assert self._endpointer is not None
        self._frames.append(frame)
        self._endpointer.update(self.vad.speech_probability(frame), FRAME_S)
        if not self._endpointer.finished:
            self._trim()
            return []
        result = self._endpointer.result
        signals: list[Signal] = []
        if result is not None and result.heard and result.speech_s <= self.settings.stop_max_s:
            signals.append(MaybeStop(self._utterance(result.frames)))
        self._start_stop_watch()
        return signals

    def _listening(self, frame: Audio) -> list[Signal]:
        if self._wake_in_follow_up and (score := self._wake_score(frame)) is not None:
            # "Alexa, ..." right after Jarvis answered: a new wake, not Jarvis's follow-up.
            self._pre_wake = []
            self._listen(follow_up=False)
            return [Woke(score, barge_in=False, word=self.wake.name)]
        assert self._endpointer is not None
        self._frames.append(frame)
        probability = self.vad.speech_probability(frame)
        state = self._endpointer.update(probability, FRAME_S)
        if not self._endpointer.finished:
            self._trim()
            finished_sentence = self._judge_pause(probability, state)
            return self._speculation(probability, state, finished_sentence)
        result = self._endpointer.result
        assert result is not None
        follow_up = self._follow_up
        if not result.heard:
            waited = len(self._frames) * FRAME_S
            self._go_idle()
            return [GaveUp(waited, follow_up)]
        audio = self._utterance(result.frames)
        if result.start_frame == 0 and self._pre_wake:
            # Speech was already under way when the wake word fired: keep its first word.
            audio = np.concatenate([*self._pre_wake, audio])
        self.mode = Mode.BUSY
        self._start_stop_watch()
        return [Heard(audio, result.speech_s, result.outcome is Outcome.CUT, follow_up)]

    # -- helpers ---------------------------------------------------------------------------

    def _judge_pause(self, probability: float, state: State) -> bool:
        """At a pause's first silent frame, the turn model's verdict on the turn so far sets
        the silence that ends the pause. True: the sentence sounds finished."""
        if probability >= self.settings.endpoint.threshold:
            self._pause_judged = False  # speech again: the next pause is judged afresh
            return False
        if self.turn is None or self._pause_judged or state is not State.TRAILING_SILENCE:
            return False
        self._pause_judged = True
        assert self._endpointer is not None
        turn = self.settings.turn
        heard = self._utterance(slice(self._endpointer.keep_from, self._frames_fed()))
        finished = self.turn.complete_probability(heard) >= turn.threshold
        silence = turn.complete_silence_s if finished else turn.incomplete_silence_s
        self._endpointer.end_pause_after(silence)
        return finished

    def _speculation(
        self, probability: float, state: State, finished_sentence: bool = False
    ) -> list[Signal]:
        """Paused once the trailing silence passes speculate_after_s, or at once when the
        turn model heard a finished sentence; Resumed if speech comes back before the
        endpoint is sure."""
        if probability >= self.settings.endpoint.threshold:
            self._quiet_frames = 0
            if self._paused:
                self._paused = False
                return [Resumed()]
            return []
        self._quiet_frames += 1
        after = self.settings.speculate_after_s
        if (
            after > 0
            and not self._paused
            and state is State.TRAILING_SILENCE
            and (finished_sentence or self._quiet_frames * FRAME_S >= after - 1e-9)
        ):
            self._paused = True
            assert self._endpointer is not None
            everything = slice(self._endpointer.keep_from, self._frames_fed())
            return [Paused(self._utterance(everything))]
        return []

    def _wake_score(self, frame: Audio) -> float | None:
        """The wake score if it counts as a wake, else None (also keeps the refractory)."""
        score = self.wake.process(frame)
        if self._refractory_frames > 0 or score < self.settings.wake_threshold:
            return None
        self._refractory_frames = round(self.settings.refractory_s / FRAME_S)
        self.wake.reset()
        return score

    def _listen(self, follow_up: bool) -> None:
        settings = self.settings.endpoint
        if follow_up:
            settings = settings.with_timeout(self.settings.follow_up_s)
        self.mode = Mode.LISTENING
        self._follow_up = self._wake_in_follow_up = follow_up
        self._begin(settings)

    def _start_stop_watch(self) -> None:
        self._begin(replace(self.settings.endpoint, max_utterance_s=self.settings.stop_max_s * 2))
        # While busy the watch never times out: it restarts whenever it finishes.

    def _begin(self, settings: EndpointSettings) -> None:
        self.vad.reset()
        self._quiet_frames = 0
        self._paused = False
        self._pause_judged = False
        self._endpointer = Endpointer(settings)
        self._frames = []
        self._offset = 0

    def _go_idle(self) -> None:
        self.mode = Mode.IDLE
        self._heard.clear()
        self._wake_asleep = True
        self._wake_awake_frames = 0
        self._endpointer = None
        self._frames = []
        self._pre_wake = []
        self.wake.reset()
        self.vad.reset()

    def _trim(self) -> None:
        """Drop frames the endpointer no longer needs (memory stays flat while waiting)."""
        assert self._endpointer is not None
        drop = self._endpointer.keep_from - self._offset
        if drop > 0:
            del self._frames[:drop]
            self._offset += drop

    def _frames_fed(self) -> int:
        """The index of the next frame, counted from the first one since listening began."""
        return self._offset + len(self._frames)

    def _utterance(self, frames: slice) -> Audio:
        start = (frames.start or 0) - self._offset
        stop = (frames.stop or 0) - self._offset
        chunk = self._frames[max(0, start) : max(0, stop)]
        return np.concatenate(chunk) if chunk else np.zeros(0, dtype=np.int16)
