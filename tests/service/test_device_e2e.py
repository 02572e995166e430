"""The daemon with its device, wired as `secondself run` wires it (`start_session` with
hardware): the button and LED on gpiozero's mock pins, a camera reading a video file, the
microphone and speaker through the virtual sound card, and every real model. The parts are
checked one by one in test_device_e2e; here they work together inside the running daemon."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from secondself.core.bus import Bus
from secondself.core.config import load_config
from secondself.core.events import (
    AnswerDone,
    Event,
    IntentRecognized,
    Listening,
    MemorySaved,
    MicMuted,
    SnapshotTaken,
    VoiceMemoStarted,
    WakeDetected,
)
from secondself.memory.model import Kind, SearchFilter
from secondself.service.app import App
from secondself.service.loading import Pipeline, load_pipeline
from secondself.service.session import Session, start_session
from secondself.voice.microphone import Microphone
from secondself.voice.speaker import SoundDeviceSpeaker
from secondself.voice.virtual_soundcard import VirtualSoundCard
from secondself.weights.manifest import ModelStore
from tests.conftest import Say, silence
from tests.hw.test_camera import write_video

pytestmark = pytest.mark.e2e

MEMO = "The plumber is coming on Thursday at nine to fix the boiler."
CAPTION = "This is my new red bicycle in the garden."
RED, GREEN, BLUE = 5, 6, 13


@pytest.fixture(scope="module")
def pipeline(model_store: ModelStore) -> Pipeline:
    return load_pipeline(load_config(), model_store, Bus())


class RunningDaemon:
    """The session listening on the virtual card's microphone, on its own event loop."""

    def __init__(self, session: Session, card: VirtualSoundCard, events: list[Event]) -> None:
        self.session = session
        self.card = card
        self.events = events
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._listen()))
        self._thread.start()

    async def _listen(self) -> None:
        microphone = Microphone().start()
        task = asyncio.create_task(self.session.loop.run(microphone.frames()))
        try:
            while not self._stop.is_set():
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
            microphone.stop()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def press(self, times: int = 1) -> None:
        assert self.session.hardware is not None and self.session.hardware.button is not None
        pin: Any = self.session.hardware.button.gpio_pin
        for _ in range(times):
            pin.drive_low()
            time.sleep(0.05)
            pin.drive_high()
            time.sleep(0.05)

    def say(self, audio: np.ndarray) -> None:
        self.card.play_into_mic(np.concatenate([audio, silence(0.3)]))

    def wait_for(
        self, check: Callable[[Event], bool], timeout: float = 60.0, since: int = 0
    ) -> Event:
        """The first event from index `since` on that passes `check` (waiting for it)."""
        end = time.monotonic() + timeout
        seen = since
        while time.monotonic() < end:
            for event in self.events[seen:]:
                if check(event):
                    return event
            seen = len(self.events)
            time.sleep(0.05)
        raise AssertionError(f"timed out; events: {[e.name for e in self.events[-20:]]}")


@pytest.fixture
def daemon(
    soundcard: VirtualSoundCard, pipeline: Pipeline, tmp_path: Path
) -> Iterator[RunningDaemon]:
    video = write_video(tmp_path / "camera.avi", frames=60)
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[gpio]
pin_factory = "mock"
[button]
hold_s = 0.4
double_s = 0.3
memo_silence_s = 1.0
[camera]
source = "{video}"
caption_s = 6.0
[led]
kind = "rgb"
pins = "{RED},{GREEN},{BLUE}"
"""
    )
    app = App(config_file=config, home_override=str(tmp_path / "home"))
    events: list[Event] = []
    app.bus.on(events.append)
    session = start_session(app, SoundDeviceSpeaker(), pipeline, hardware=True)
    running = RunningDaemon(session, soundcard, events)
    try:
        yield running
    finally:
        running.close()
        session.close()


def test_button_camera_and_voice_work_together_in_the_daemon(
    daemon: RunningDaemon, say: Say
) -> None:
    # A short press: a voice memo, transcribed and kept with its audio.
    daemon.press()
    daemon.wait_for(lambda e: isinstance(e, VoiceMemoStarted), timeout=5)
    daemon.say(np.concatenate([say(MEMO), silence(1.5)]))
    daemon.wait_for(lambda e: isinstance(e, MemorySaved) and e.kind == "voice_note")

    # "Take a picture" by voice: the shutter, then the next words are the caption.
    mark = len(daemon.events)
    daemon.say(say("Hey Jarvis, take a picture."))
    asked = daemon.wait_for(lambda e: isinstance(e, IntentRecognized), since=mark)
    assert isinstance(asked, IntentRecognized) and asked.intent == "snapshot"
    # The shutter sounds, then it listens for the caption (no wake word needed).
    daemon.wait_for(lambda e: isinstance(e, Listening), since=daemon.events.index(asked))
    daemon.say(say(CAPTION))
    daemon.wait_for(lambda e: isinstance(e, MemorySaved) and e.kind == "image")
    daemon.wait_for(lambda e: isinstance(e, SnapshotTaken))

    # Both are in the device owner's memories, and a question finds the photo.
    store = daemon.session.store
    kinds = {m.kind: m for m in store.recent(SearchFilter(persona="personal"))}
    memo, photo = kinds[Kind.VOICE_NOTE], kinds[Kind.IMAGE]
    assert "plumber" in memo.text.lower() and memo.media and memo.media.endswith(".wav")
    assert "bicycle" in photo.text.lower() and photo.media and photo.media.endswith(".jpg")
    assert (store.user_dir / photo.media).stat().st_size > 1000
    daemon.say(say("Hey Jarvis, what did I photograph?"))
    answer = daemon.wait_for(lambda e: isinstance(e, AnswerDone))
    assert isinstance(answer, AnswerDone) and "bicycle" in answer.text.lower(), answer.text

    # A double press mutes: the wake word is ignored until the next double press.
    daemon.press(times=2)
    daemon.wait_for(lambda e: isinstance(e, MicMuted) and e.muted, timeout=5)
    wakes = sum(isinstance(e, WakeDetected) for e in daemon.events)
    daemon.say(np.concatenate([say("Hey Jarvis, what is my dog's name?"), silence(1.0)]))
    assert sum(isinstance(e, WakeDetected) for e in daemon.events) == wakes
    daemon.press(times=2)
    daemon.wait_for(lambda e: isinstance(e, MicMuted) and not e.muted, timeout=5)
    daemon.say(say("Hey Jarvis, what is my dog's name?"))
    daemon.wait_for(lambda e: isinstance(e, WakeDetected))
