"""Photos taken the way the device takes them, into a real memory store: a camera reading a
video file made here, a long press, the caption said after the shutter (marked frames
through the real Listener and hooks; the recogniser is scripted), and a clock the test sets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from secondself.answer.vision import Captioner
from secondself.core.bus import Bus
from secondself.core.events import ButtonPressed, Event, SnapshotTaken
from secondself.hw.camera import CameraSource, OpenCvCamera
from secondself.hw.device import Device, DeviceSettings
from secondself.hw.earcons import Earcons
from secondself.memory.model import Memory
from secondself.memory.store import MemoryStore
from secondself.service.hardware import Hardware
from secondself.voice.listener import Listener, ListenerSettings
from tests.hw.test_camera import write_video
from tests.hw.test_voice_hooks import LoopDriver, frames, marked_driver
from tests.support.fakes import (
    QUIET,
    SPEECH,
    MarkedVad,
    MarkedWakeWord,
    RecordingSpeaker,
    ScriptedTranscriber,
)


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


@dataclass
class PhotoRig:
    device: Device
    driver: LoopDriver
    store: MemoryStore
    bus: Bus
    events: list[Event]
    moment: list[float]  # what the device's clock says

    def photo(self, taken: float | None = None, *, spoken: bool = True) -> Memory:
        """A long press (at `taken` on the device's clock, when the rig owns it); the caption
        (the transcriber's next text) is said after the shutter, or nothing is said.
        Returns the saved image memory."""
        if taken is not None:
            self.moment[0] = taken
        before = self.store.count()
        self.bus.publish(ButtonPressed(action="long"))
        eventually(lambda: self.driver.hooks.expecting_utterance)
        speech = frames(SPEECH, 1) if spoken else []
        self.driver.feed(frames(QUIET, 0.3) + speech + frames(QUIET, 2.5))
        assert self.device.wait_idle(30)
        assert self.store.count() == before + 1
        taken_ids = [e.memory_id for e in self.events if isinstance(e, SnapshotTaken)]
        assert taken_ids and taken_ids[-1] is not None
        return self.store.get(taken_ids[-1])

    def close(self) -> None:
        self.device.close()
        self.store.close()

    @classmethod
    def of(cls, hardware: Hardware, store: MemoryStore, bus: Bus) -> PhotoRig:
        """A rig around what `start_hardware` built (its device keeps its own clock)."""
        events: list[Event] = []
        bus.on(events.append)
        listener = Listener(
            MarkedWakeWord(), MarkedVad(), ListenerSettings(refractory_s=0.0, follow_up_s=0.0)
        )
        driver = LoopDriver(hardware.hooks, listener)
        return cls(hardware.device, driver, store, bus, events, [0.0])


def photo_rig(
    tmp_path: Path,
    store: MemoryStore,
    captions: list[str],
    *,
    captioner: Captioner | None = None,
    vision_wait_s: float = 5.0,
) -> PhotoRig:
    driver, events = marked_driver()
    camera = OpenCvCamera(CameraSource.parse(str(write_video(tmp_path / "camera.avi", 8))))
    moment = [0.0]
    settings = DeviceSettings(caption_s=2.0, vision_wait_s=vision_wait_s)
    device = Device(
        driver.hooks.bus,
        driver.hooks,
        store,
        ScriptedTranscriber(captions),
        MarkedVad(),
        Earcons(RecordingSpeaker()),
        camera,
        settings,
        clock=lambda: moment[0],
        captioner=captioner,
    ).start()
    return PhotoRig(device, driver, store, driver.hooks.bus, events, moment)
