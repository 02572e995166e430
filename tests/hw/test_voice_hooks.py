"""The voice memo recorder and the hooks between the device and the voice loop, over marked
frames (the first sample says what a frame holds) and the real Listener state machine."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pytest

from secondself.core.bus import Bus
from secondself.core.events import Event, Listening
from secondself.core.protocols import FRAME_SAMPLES, Audio
from secondself.hw.memo import MemoRecorder, MemoSettings
from secondself.hw.voice_hooks import VoiceHooks
from secondself.voice.listener import GaveUp, Heard, Listener, ListenerSettings, Mode, Signal, Woke
from tests.support.fakes import QUIET, SPEECH, WAKE, MarkedVad, MarkedWakeWord, frame

pytestmark = pytest.mark.unit


@dataclass
class LoopDriver:
    """Does with each frame what the voice loop does once wired to the hooks: feed through
    the hooks; on Heard, offer the audio to the hooks before it becomes a turn; on GaveUp,
    tell them. A turn here is only recorded (the reply ends at once)."""

    hooks: VoiceHooks
    listener: Listener
    signals: list[Signal] = field(default_factory=list)
    turns: list[Audio] = field(default_factory=list)

    def feed(self, frames: Iterable[Audio]) -> None:
        for f in frames:
            for signal in self.hooks.feed(self.listener, f):
                self.signals.append(signal)
                match signal:
                    case Heard(audio=audio):
                        if not self.hooks.take_utterance(audio):
                            self.turns.append(audio)
                            self.listener.reply_finished()
                    case GaveUp():
                        self.hooks.gave_up()

    def woke(self) -> int:
        return sum(isinstance(s, Woke) for s in self.signals)


def frames(kind: int, seconds: float) -> list[Audio]:
    return [frame(kind) for _ in range(round(seconds / 0.08))]


def marked_driver(follow_up_s: float = 0.0) -> tuple[LoopDriver, list[Event]]:
    bus = Bus()
    events: list[Event] = []
    bus.on(events.append)
    listener = Listener(
        MarkedWakeWord(), MarkedVad(), ListenerSettings(refractory_s=0.0, follow_up_s=follow_up_s)
    )
    return LoopDriver(VoiceHooks(bus), listener), events


# --- the memo recorder --------------------------------------------------------------------


def record(stream: list[Audio], settings: MemoSettings) -> MemoRecorder:
    recorder = MemoRecorder(MarkedVad(), settings)
    for f in stream:
        if recorder.feed(f):
            break
    return recorder


def test_memo_ends_after_the_silence_and_keeps_its_pauses() -> None:
    stream = (
        frames(QUIET, 1)
        + frames(SPEECH, 1)
        + frames(QUIET, 0.8)
        + frames(SPEECH, 1)
        + frames(QUIET, 3)
    )
    memo = record(stream, MemoSettings(silence_s=1.5)).result
    assert memo is not None and memo.reason == "silence"
    # Both stretches of speech and the pause between them; no long lead-in of silence.
    assert 2.8 <= memo.audio.size / 16000 <= 3.4
    assert memo.speech_s == pytest.approx(2.8, abs=0.1)


def test_memo_cut_at_the_limit_and_nothing_heard() -> None:
    cut = record(frames(SPEECH, 5), MemoSettings(max_s=2.0)).result
    assert cut is not None and cut.reason == "max-length" and cut.heard
    nothing = record(frames(QUIET, 10), MemoSettings(no_speech_s=2.0)).result
    assert nothing is not None and nothing.reason == "nothing-heard" and not nothing.heard


def test_memo_stopped_by_the_button_keeps_what_was_said() -> None:
    recorder = record(frames(QUIET, 0.5) + frames(SPEECH, 1.2), MemoSettings())
    assert not recorder.finished
    recorder.stop()
    assert recorder.result is not None and recorder.result.reason == "button"
    assert recorder.result.audio.size >= 1.2 * 16000
    early = record(frames(QUIET, 0.5), MemoSettings())
    early.stop()
    assert early.result is not None and early.result.reason == "nothing-heard"


# --- the hooks ----------------------------------------------------------------------------


def test_frames_go_to_the_memo_not_the_listener_while_it_records() -> None:
    driver, _ = marked_driver()
    done = driver.hooks.start_capture(MemoRecorder(MarkedVad(), MemoSettings(silence_s=0.5)))
    assert driver.hooks.capturing
    # A wake word said inside a memo is part of the memo, not a wake.
    driver.feed(frames(WAKE, 0.3) + frames(SPEECH, 1) + frames(QUIET, 1))
    assert done.done() and done.result().reason == "silence"
    assert not driver.hooks.capturing and driver.woke() == 0
    driver.feed(frames(WAKE, 0.16))
    assert driver.woke() == 1  # afterwards the listener hears again


def test_stop_capture_ends_the_memo_at_the_next_frame() -> None:
    driver, _ = marked_driver()
    done = driver.hooks.start_capture(MemoRecorder(MarkedVad(), MemoSettings()))
    driver.feed(frames(SPEECH, 1))
    driver.hooks.stop_capture()
    driver.feed(frames(SPEECH, 0.08))
    assert done.result(0).reason == "button"
    with pytest.raises(RuntimeError):
        driver.hooks.start_capture(MemoRecorder(MarkedVad()))
        driver.hooks.start_capture(MemoRecorder(MarkedVad()))


def test_abort_capture_without_frames() -> None:
    driver, _ = marked_driver()
    done = driver.hooks.start_capture(MemoRecorder(MarkedVad()))
    memo = driver.hooks.abort_capture()
    assert memo is not None and memo.reason == "nothing-heard" and done.result(0) is memo


def test_muted_listener_ignores_the_wake_word_until_unmuted() -> None:
    driver, _ = marked_driver()
    driver.hooks.mute(True)
    driver.feed(frames(WAKE, 0.24) + frames(SPEECH, 1) + frames(QUIET, 1))
    assert driver.woke() == 0 and driver.listener.muted
    driver.hooks.mute(False)
    driver.feed(frames(QUIET, 0.08) + frames(WAKE, 0.24))
    assert driver.woke() == 1


def test_caption_is_the_next_utterance_without_the_wake_word() -> None:
    driver, events = marked_driver()
    caption = driver.hooks.expect_utterance(timeout_s=3.0)
    driver.feed(frames(QUIET, 0.5) + frames(SPEECH, 1) + frames(QUIET, 1))
    assert caption.done()
    audio = caption.result(0)
    assert audio is not None and audio.size >= 16000
    assert driver.turns == []  # the caption is not a question
    assert any(isinstance(e, Listening) and e.follow_up for e in events)
    driver.feed(frames(QUIET, 0.08))
    assert driver.listener.mode is Mode.IDLE  # back to waiting for the wake word
    driver.feed(frames(SPEECH, 1) + frames(QUIET, 1))
    assert driver.turns == [] and driver.woke() == 0  # speech without the wake word: nothing


def test_no_caption_when_nothing_is_said_in_time() -> None:
    driver, _ = marked_driver()
    caption = driver.hooks.expect_utterance(timeout_s=1.0)
    driver.feed(frames(QUIET, 1.5))
    assert caption.result(0) is None
    driver.feed(frames(WAKE, 0.16) + frames(SPEECH, 1) + frames(QUIET, 1))
    assert len(driver.turns) == 1  # the next question is a question again


def test_caption_after_a_reply_uses_the_follow_up_window() -> None:
    """ "Take a picture" by voice: the turn ends, the listener follows up, and what the user
    says next is the caption, not a new question."""
    driver, _ = marked_driver(follow_up_s=4.0)
    driver.feed(frames(WAKE, 0.16) + frames(SPEECH, 1) + frames(QUIET, 1))
    assert len(driver.turns) == 1 and driver.listener.mode is Mode.LISTENING
    caption = driver.hooks.expect_utterance(timeout_s=3.0)
    driver.feed(frames(SPEECH, 1) + frames(QUIET, 1))
    assert caption.result(0) is not None and len(driver.turns) == 1


def test_muting_drops_a_pending_caption() -> None:
    driver, _ = marked_driver()
    caption = driver.hooks.expect_utterance(timeout_s=3.0)
    driver.hooks.mute(True)
    assert caption.result(0) is None
    later = driver.hooks.expect_utterance(timeout_s=3.0)
    assert later.result(0) is None  # muted: nothing is listened for
    assert not driver.hooks.take_utterance(np.zeros(FRAME_SAMPLES, np.int16))
