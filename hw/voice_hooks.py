"""Where the button and camera meet the voice loop, without either calling the other.

The device glue (`device.Device`) asks, from any thread: mute the microphone, hand me the
next frames (a voice memo), or hand me the next utterance (a photo caption, said right
after the shutter sound without the wake word). The voice loop calls three methods:

    feed(listener, frame)   on the listener thread, for every frame, in place of
                            `listener.feed(frame)`: applies pending requests, and while a
                            memo records, the frames go to it instead of the listener
    take_utterance(audio)   on Heard, before starting a turn: True means it was the
                            caption the device was waiting for, so no turn runs
    gave_up()               on GaveUp: the caption window passed in silence

The listener needs two methods beyond `feed` and `set_muted` (see `ListenerControl`):
`listen_now(timeout_s)`, LISTENING without the wake word, as after a reply; and
`go_idle()`, back to waiting for the wake word (after a caption, no reply follows).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Protocol, TypeVar

from secondself.core.bus import Bus
from secondself.core.events import Listening
from secondself.core.protocols import Audio
from secondself.voice.listener import Signal

from .memo import Memo, MemoRecorder

T = TypeVar("T")


class ListenerControl(Protocol):
    """What the hooks need of `secondself.voice.listener.Listener`."""

    @property
    def mode(self) -> str: ...  # "idle" | "listening" | "busy"

    def feed(self, frame: Audio) -> list[Signal]: ...

    def set_muted(self, muted: bool) -> None: ...

    def listen_now(self, timeout_s: float) -> None:
        """From IDLE: endpoint the next utterance without the wake word, giving up after
        `timeout_s` of silence (a GaveUp signal)."""
        ...

    def go_idle(self) -> None:
        """Back to IDLE (wait for the wake word), from any mode."""
        ...


def _resolve(future: Future[T], value: T) -> None:
    if not future.done():
        future.set_result(value)


class VoiceHooks:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        # One lock for all state; the recorder runs under it too (one VAD call per frame),
        # so `abort_capture` from another thread never races `feed`.
        self._lock = threading.Lock()
        self._muted = False
        self._mute_pending: bool | None = None
        self._capture: tuple[MemoRecorder, Future[Memo]] | None = None
        self._capture_fresh = False  # no frame fed to the capture yet
        self._stop_capture = False
        self._caption: Future[Audio | None] | None = None
        self._caption_listen_s: float | None = None  # a listen_now still to be done
        self._release_busy = False  # a claimed utterance left the listener BUSY

    # -- the device's side (any thread) ---------------------------------------------------

    @property
    def muted(self) -> bool:
        return self._muted

    @property
    def capturing(self) -> bool:
        return self._capture is not None

    @property
    def expecting_utterance(self) -> bool:
        return self._caption is not None

    def mute(self, muted: bool) -> None:
        """Muted: the listener ignores everything; a memo or caption in progress ends."""
        with self._lock:
            self._muted = muted
            self._mute_pending = muted
            caption, self._caption = (self._caption, None) if muted else (None, self._caption)
            if muted:
                self._caption_listen_s = None
                self._stop_capture = self._capture is not None
        if caption is not None:
            _resolve(caption, None)

    def start_capture(self, recorder: MemoRecorder) -> Future[Memo]:
        """Frames go to `recorder` from the next one until it finishes (the future's
        result) or `stop_capture` is called."""
        done: Future[Memo] = Future()
        with self._lock:
            if self._capture is not None:
                raise RuntimeError("a voice memo is already being recorded")
            self._capture = (recorder, done)
            self._capture_fresh = True
            self._stop_capture = False
        return done

    def stop_capture(self) -> None:
        """End the memo at the next frame, keeping what was said (a second press)."""
        with self._lock:
            if self._capture is not None:
                self._stop_capture = True

    def abort_capture(self) -> Memo | None:
        """End the memo now, from this thread (no frames are coming: shutdown, no mic)."""
        with self._lock:
            capture, self._capture = self._capture, None
            if capture is None:
                return None
            recorder, done = capture
            recorder.stop()
        assert recorder.result is not None
        _resolve(done, recorder.result)
        return recorder.result

    def expect_utterance(self, timeout_s: float) -> Future[Audio | None]:
        """The next utterance heard, without the wake word: its audio, or None if the user
        said nothing within `timeout_s` (or the microphone was muted)."""
        future: Future[Audio | None] = Future()
        with self._lock:
            old, self._caption = self._caption, future
            self._caption_listen_s = timeout_s
        if old is not None:
            _resolve(old, None)
        if self._muted:
            self.cancel_utterance()
        return future

    def cancel_utterance(self) -> None:
        with self._lock:
            caption, self._caption = self._caption, None
            self._caption_listen_s = None
        if caption is not None:
            _resolve(caption, None)

    # -- the voice loop's side ------------------------------------------------------------

    def feed(self, listener: ListenerControl, frame: Audio) -> list[Signal]:
        """Called for every frame on the listener thread, in place of `listener.feed`."""
        finished: tuple[Future[Memo], Memo] | None = None
        listening_now = consumed = False
        with self._lock:
            if self._mute_pending is not None:
                listener.set_muted(self._mute_pending)
                self._mute_pending = None
            if self._release_busy:
                self._release_busy = False
                if listener.mode == "busy":
                    listener.go_idle()
            if self._capture is not None:
                consumed = True
                recorder, done = self._capture
                if self._capture_fresh:
                    self._capture_fresh = False
                    if listener.mode == "listening":
                        listener.go_idle()  # a half-heard command would resume mid-memo
                if self._stop_capture:
                    recorder.stop()
                else:
                    recorder.feed(frame)
                if recorder.result is not None:
                    self._capture, self._stop_capture = None, False
                    finished = (done, recorder.result)
            elif self._caption is not None and self._caption_listen_s is not None:
                if listener.mode == "idle":
                    listener.listen_now(self._caption_listen_s)
                    self._caption_listen_s = None
                    listening_now = True
                elif listener.mode == "listening":
                    self._caption_listen_s = None  # already listening: the next utterance
        if finished is not None:
            _resolve(*finished)
        if consumed:
            return []
        if listening_now:
            self.bus.publish(Listening(follow_up=True))
        return listener.feed(frame)

    def take_utterance(self, audio: Audio) -> bool:
        """On Heard: True if the device was waiting for this utterance (no turn runs)."""
        with self._lock:
            caption, self._caption = self._caption, None
            if caption is None or caption.done():
                return False
            self._caption_listen_s = None
            self._release_busy = True
        _resolve(caption, audio)
        return True

    def gave_up(self) -> None:
        """On GaveUp: if the listener was listening for the caption, there is none."""
        with self._lock:
            if self._caption is None or self._caption_listen_s is not None:
                return  # not listening for it yet: this was an earlier wake's silence
            caption, self._caption = self._caption, None
        _resolve(caption, None)
