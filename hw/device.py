"""The glue: button presses and "take a picture" become voice memos, photos and mute.

`Device` subscribes to the bus (ButtonPressed) and runs each action as a job on its own
worker thread, one at a time, so the bus callback returns at once and the camera, the
recogniser and the memory store never block the button, the LED or the event loop:

    memo      listening sound -> frames from the voice loop until silence (or a second
              press) -> transcript -> a voice-note memory with its WAV -> saved sound
    snapshot  camera -> JPEG -> shutter sound -> the next utterance is the caption
              (no wake word), while a vision model, if configured, describes the
              picture -> an image memory with time, source and both -> saved sound
    mute      the listener ignores everything until the next double press

Nothing is written until a memo or photo is complete: a camera that fails gives a
StageError, the error sound and no memory. The memory store publishes MemorySaved.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import numpy as np

from secondself.answer.intent import Intent, recognize
from secondself.answer.vision import Captioner, PendingCaption
from secondself.core.bus import Bus
from secondself.core.errors import SecondselfError, Stage
from secondself.core.events import (
    ButtonPressed,
    Event,
    MicMuted,
    SnapshotTaken,
    StageError,
    Transcript,
    VoiceMemoEnded,
    VoiceMemoStarted,
)
from secondself.core.protocols import SAMPLE_RATE, Audio, Transcriber, VoiceActivity
from secondself.memory.model import Kind, MediaInput, Memory, Origin
from secondself.memory.photos import photo_text
from secondself.voice.audio_file import wav_bytes

from .camera import Camera
from .earcons import Earcon, Earcons
from .memo import Memo, MemoRecorder, MemoSettings
from .voice_hooks import VoiceHooks

log = logging.getLogger(__name__)


class Action(StrEnum):
    MEMO = "memo"
    SNAPSHOT = "snapshot"
    MUTE = "mute"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class DeviceSettings:
    short: Action = Action.MEMO
    long: Action = Action.SNAPSHOT
    double: Action = Action.MUTE
    memo: MemoSettings = field(default_factory=MemoSettings)
    caption_s: float = 6.0  # silence after the shutter before the photo is saved uncaptioned
    # A caption that started inside the window may run on this long (the listener's own
    # maximum utterance ends it before); only a stalled microphone reaches it.
    caption_grace_s: float = 20.0
    # After the spoken caption, how long to wait for a vision model's description.
    vision_wait_s: float = 20.0
    persona: str = "personal"

    def action_for(self, press: str) -> Action:
        return {"short": self.short, "long": self.long, "double": self.double}.get(
            press, Action.NONE
        )


class MemoryWriter(Protocol):
    """What the device needs of the memory (`MemoryStore` fits)."""

    @property
    def user_dir(self) -> Path: ...

    def remember(
        self,
        text: str,
        *,
        kind: Kind = ...,
        persona: str = ...,
        source: Origin = ...,
        provenance: str = ...,
        media: MediaInput | None = ...,
        created: float | None = ...,
    ) -> Memory: ...


# What the device says (with `announce`) or the conversation says for a failure.
SPOKEN_ERRORS = {
    "camera-missing": "The camera is not set up.",
    "camera-open-failed": "I could not open the camera.",
    "camera-no-frame": "The camera gave me no picture.",
    "camera-timeout": "The camera is not answering.",
    "camera-encode-failed": "I could not save the picture.",
    "mic-muted": "The microphone is muted.",
}


def spoken_error(exc: SecondselfError) -> str:
    return SPOKEN_ERRORS.get(exc.code, "Sorry, something went wrong.")


class Device:
    def __init__(
        self,
        bus: Bus,
        hooks: VoiceHooks,
        memory: MemoryWriter,
        stt: Transcriber,
        vad: VoiceActivity,
        earcons: Earcons,
        camera: Camera | None,
        settings: DeviceSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        announce: Callable[[str], None] | None = None,
        captioner: Captioner | None = None,
    ) -> None:
        self.bus = bus
        self.hooks = hooks
        self.memory = memory
        self.stt = stt
        self.vad = vad  # used on the listener thread only, while a memo records
        self.earcons = earcons
        self.camera = camera
        self.settings = settings or DeviceSettings()
        self.clock = clock  # wall time: memories are dated
        self.announce = announce
        self.captioner = captioner  # a vision model describing each photo, or None
        self._muted = False
        self._closing = threading.Event()
        self._camera_lock = threading.Lock()
        self._jobs = ThreadPoolExecutor(max_workers=1, thread_name_prefix="device")
        self._pending = 0
        self._idle = threading.Condition()
        self._unsubscribe: Callable[[], None] | None = None

    def use_captioner(self, captioner: Captioner | None) -> None:
        """A reload: the next photo is described by this vision model (None: none)."""
        self.captioner = captioner

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> Device:
        if self._unsubscribe is None:
            self._unsubscribe = self.bus.on(self._on_event)
        return self

    def close(self) -> None:
        """Stop listening to the button; a memo in progress keeps what was said, a photo
        waiting for its caption is saved without one."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._closing.set()  # a photo waiting for its description is saved without it
        self._jobs.shutdown(wait=False, cancel_futures=True)  # queued presses are dropped
        # The running job may be waiting on the voice loop, which may be gone: end its
        # wait (again, should it start another one before it sees the end).
        while not self.wait_idle(0.05):
            self.hooks.abort_capture()
            self.hooks.cancel_utterance()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every job queued so far has finished (tests, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    # -- entry points ----------------------------------------------------------------------

    @property
    def muted(self) -> bool:
        return self._muted

    def do(self, action: Action) -> None:
        """Run a button action (also for the web page or the CLI). Returns at once."""
        match action:
            case Action.MEMO:
                if self.hooks.capturing:
                    self.hooks.stop_capture()  # a press while recording ends the memo
                else:
                    self._submit(self._memo)
            case Action.SNAPSHOT:
                self._submit(self._snapshot)
            case Action.MUTE:
                self.set_muted(not self._muted)
            case Action.NONE:
                pass

    def set_muted(self, muted: bool) -> None:
        if muted == self._muted:
            return
        self._muted = muted
        self.hooks.mute(muted)
        self.bus.publish(MicMuted(muted=muted))
        self._submit(lambda: self.earcons.play(Earcon.MUTED if muted else Earcon.UNMUTED))

    def snapshot_for_voice(self) -> str | None:
        """For "take a picture" said to the conversation: takes it now (shutter sound), then
        the caption and the saving go on in the background while the turn ends. Returns
        None, or a short sentence for the conversation to say when there is no picture.
        Blocking: call it from a worker thread (asyncio.to_thread)."""
        try:
            jpeg, taken = self._take_picture()
        except SecondselfError as exc:
            self._report(exc, sound=False)
            return spoken_error(exc)
        self._submit(lambda: self._save_photo(jpeg, taken, "voice"))
        return None

    # -- jobs (on the worker thread) -------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ButtonPressed):
            self.do(self.settings.action_for(event.action))

    def _submit(self, job: Callable[[], None]) -> None:
        with self._idle:
            self._pending += 1
        try:
            future = self._jobs.submit(self._run, job)
        except RuntimeError:  # closed
            self._done(None)
            return
        future.add_done_callback(self._done)

    def _done(self, _: Future[None] | None) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def _run(self, job: Callable[[], None]) -> None:
        try:
            job()
        except SecondselfError as exc:
            self._report(exc, sound=True)
        except Exception as exc:  # one failed job must not stop the button
            log.exception("device job failed")
            self._report(SecondselfError("device-failed", str(exc), Stage.BUTTON), sound=True)

    def _report(self, exc: SecondselfError, sound: bool) -> None:
        stage = str(exc.stage or Stage.BUTTON)
        log.warning("%s: %s (%s)", stage, exc.message, exc.code)
        self.bus.publish(StageError(stage=stage, code=exc.code, message=exc.message))
        if sound:
            self.earcons.play(Earcon.ERROR)
            if self.announce is not None:
                self.announce(spoken_error(exc))

    def _memo(self) -> None:
        if self._muted:
            raise SecondselfError(
                "mic-muted", "the microphone is muted: double-press to unmute", Stage.BUTTON
            )
        started = self.clock()
        self.earcons.play(Earcon.LISTENING)  # before recording: it must not be in the memo
        done = self.hooks.start_capture(MemoRecorder(self.vad, self.settings.memo))
        self.bus.publish(VoiceMemoStarted())
        memo = self._wait_memo(done)
        self.bus.publish(VoiceMemoEnded(duration_s=memo.speech_s, reason=memo.reason))
        if not memo.heard:
            self.earcons.play(Earcon.ERROR)  # nothing to save, and the user should know
            return
        text = self._transcribe(memo.audio)
        if not text:
            raise SecondselfError("memo-empty", "no words heard in the voice memo", Stage.STT)
        self.memory.remember(
            text,
            kind=Kind.VOICE_NOTE,
            persona=self.settings.persona,
            source=Origin.BUTTON,
            provenance="voice memo",
            media=MediaInput(wav_bytes(memo.audio), "wav"),
            created=started,
        )
        self.earcons.play(Earcon.SAVED)

    def _wait_memo(self, done: Future[Memo]) -> Memo:
        memo_s = self.settings.memo
        try:
            return done.result(timeout=memo_s.no_speech_s + memo_s.max_s + 5.0)
        except FutureTimeout:  # no frames came (no microphone): keep whatever there is
            return self.hooks.abort_capture() or Memo(np.zeros(0, np.int16), 0.0, "nothing-heard")

    def _snapshot(self) -> None:
        jpeg, taken = self._take_picture()
        self._save_photo(jpeg, taken, "button")

    def _take_picture(self) -> tuple[bytes, float]:
        if self.camera is None:
            raise SecondselfError(
                "camera-missing",
                "no camera is set up (camera.enabled, camera.source); run `secondself doctor`",
                Stage.CAMERA,
            )
        with self._camera_lock:  # a button and a voice snapshot never open it twice
            taken = self.clock()
            jpeg = self.camera.snapshot()
        self.earcons.play(Earcon.SHUTTER)
        return jpeg, taken

    def _save_photo(self, jpeg: bytes, taken: float, trigger: str) -> None:
        # The description is made while the user speaks; neither waits for the other.
        described = None if self.captioner is None else PendingCaption(self.captioner, jpeg)
        caption = self._caption()
        seen = (
            ""
            if described is None
            else described.result(self.settings.vision_wait_s, self._closing)
        )
        name = self.camera.name if self.camera is not None else "camera"
        by = f"; described by {self.captioner.name}" if seen and self.captioner else ""
        memory = self.memory.remember(
            photo_text(caption, taken, seen),
            kind=Kind.IMAGE,
            persona=self.settings.persona,
            source=Origin.CAMERA,
            provenance=f"{name} ({trigger}{by})",
            media=MediaInput(jpeg, "jpg"),
            created=taken,
        )
        path = self.memory.user_dir / memory.media if memory.media else Path()
        self.bus.publish(SnapshotTaken(path=str(path), memory_id=memory.id))
        self.earcons.play(Earcon.SAVED)

    def _caption(self) -> str:
        """What the user says right after the shutter ("" if nothing, or muted)."""
        if self.settings.caption_s <= 0 or self._muted:
            return ""
        heard = self.hooks.expect_utterance(self.settings.caption_s)
        try:
            audio = heard.result(timeout=self.settings.caption_s + self.settings.caption_grace_s)
        except FutureTimeout:
            self.hooks.cancel_utterance()
            return ""
        if audio is None:
            return ""
        text = self._transcribe(audio)
        said = recognize(text)
        if said.intent is Intent.STOP:
            return ""  # "cancel": keep the photo, without a caption
        return said.argument if said.intent is Intent.ASK else text.strip()

    def _transcribe(self, audio: Audio) -> str:
        start = time.perf_counter()
        text = self.stt.transcribe(audio).strip()
        self.bus.publish(
            Transcript(
                text=text, duration_s=audio.size / SAMPLE_RATE, seconds=time.perf_counter() - start
            )
        )
        return text
