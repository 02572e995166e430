"""The device glue's orchestration, with small fakes behind the Protocols (camera, memory,
recogniser, speaker) and marked frames through the real Listener and hooks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from secondself.core.errors import SecondselfError, Stage
from secondself.core.events import (
    ButtonPressed,
    Event,
    MicMuted,
    SnapshotTaken,
    StageError,
    VoiceMemoEnded,
)
from secondself.hw.device import Device, DeviceSettings, photo_text
from secondself.hw.earcons import Earcon, Earcons
from secondself.hw.memo import MemoSettings
from secondself.memory.model import Kind, MediaInput, Memory, Origin, Visibility
from tests.hw.test_voice_hooks import LoopDriver, frames, marked_driver
from tests.support.fakes import (
    QUIET,
    SPEECH,
    WAKE,
    MarkedVad,
    RecordingSpeaker,
    ScriptedTranscriber,
)

pytestmark = pytest.mark.unit

JPEG = b"\xff\xd8\xff\xe0fake-jpeg"


class FakeCamera:
    name = "fake0"

    def __init__(self, error: str | None = None) -> None:
        self.error = error
        self.shots = 0

    def snapshot(self) -> bytes:
        self.shots += 1
        if self.error:
            raise SecondselfError(self.error, f"{self.error} (fake)", Stage.CAMERA)
        return JPEG


@dataclass
class ListWriter:
    """Keeps what the device saves, as the store would (media path from the bytes)."""

    user_dir: Path
    saved: list[tuple[Memory, MediaInput | None]] = field(default_factory=list)

    def remember(
        self,
        text: str,
        *,
        kind: Kind = Kind.NOTE,
        persona: str = "personal",
        source: Origin = Origin.CLI,
        provenance: str = "",
        media: MediaInput | None = None,
        created: float | None = None,
    ) -> Memory:
        rel = f"media/{len(self.saved)}.{media.ext}" if media else None
        t = created or 0.0
        memory = Memory(
            len(self.saved) + 1, kind, text, persona, Visibility.PRIVATE, t, t, None, source,
            provenance, rel,
        )  # fmt: skip
        self.saved.append((memory, media))
        return memory


@dataclass
class Rig:
    device: Device
    driver: LoopDriver
    writer: ListWriter
    speaker: RecordingSpeaker
    earcons: Earcons
    events: list[Event]
    camera: FakeCamera | None
    spoken: list[str]

    def sounds(self) -> list[Earcon]:
        by_audio = {self.earcons.sound(e).audio.tobytes(): e for e in Earcon}
        return [by_audio[s.audio.tobytes()] for s in self.speaker.played]

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]


def eventually(check: Callable[[], bool], timeout: float = 3.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


@pytest.fixture
def make_rig(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(
        texts: list[str] = (),  # type: ignore[assignment]
        camera: FakeCamera | None = None,
        caption_s: float = 2.0,
    ) -> Rig:
        driver, events = marked_driver()
        speaker = RecordingSpeaker()
        earcons = Earcons(speaker)
        writer = ListWriter(tmp_path)
        spoken: list[str] = []
        settings = DeviceSettings(
            memo=MemoSettings(silence_s=0.5, no_speech_s=1.0), caption_s=caption_s
        )
        device = Device(
            driver.hooks.bus, driver.hooks, writer, ScriptedTranscriber(list(texts)), MarkedVad(),
            earcons, camera, settings, clock=lambda: 1_700_000_000.0, announce=spoken.append,
        ).start()  # fmt: skip
        rig = Rig(device, driver, writer, speaker, earcons, events, camera, spoken)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.device.close()


def press(rig: Rig, action: str) -> None:
    rig.driver.hooks.bus.publish(ButtonPressed(action=action))


def test_short_press_records_a_voice_memo_with_its_audio(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(["Buy oat milk on the way home."])
    press(rig, "short")
    eventually(lambda: rig.driver.hooks.capturing)
    assert rig.sounds() == [Earcon.LISTENING]  # played before recording starts
    rig.driver.feed(frames(QUIET, 0.3) + frames(SPEECH, 1.5) + frames(QUIET, 1))
    assert rig.device.wait_idle(3)
    ((memory, media),) = rig.writer.saved
    assert memory.text == "Buy oat milk on the way home."
    assert (memory.kind, memory.source) == (Kind.VOICE_NOTE, Origin.BUTTON)
    assert media is not None and media.ext == "wav" and media.data[:4] == b"RIFF"
    assert len(media.data) > 1.5 * 32000  # the recorded speech, 16-bit at 16 kHz
    assert memory.created == 1_700_000_000.0
    assert rig.sounds() == [Earcon.LISTENING, Earcon.SAVED]
    names = [
        e.name for e in rig.events if e.name in ("VoiceMemoStarted", "VoiceMemoEnded", "Transcript")
    ]
    assert names == ["VoiceMemoStarted", "VoiceMemoEnded", "Transcript"]
    assert rig.driver.turns == []  # the memo never reached the conversation


def test_a_second_short_press_ends_the_memo(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(["Call the plumber."])
    press(rig, "short")
    eventually(lambda: rig.driver.hooks.capturing)
    rig.driver.feed(frames(SPEECH, 1))
    press(rig, "short")
    rig.driver.feed(frames(SPEECH, 0.08))
    assert rig.device.wait_idle(3)
    assert [m.text for m, _ in rig.writer.saved] == ["Call the plumber."]
    (ended,) = rig.of(VoiceMemoEnded)
    assert isinstance(ended, VoiceMemoEnded) and ended.reason == "button"


def test_memo_with_nothing_said_saves_nothing(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig([])
    press(rig, "short")
    eventually(lambda: rig.driver.hooks.capturing)
    rig.driver.feed(frames(QUIET, 1.5))
    assert rig.device.wait_idle(3)
    assert rig.writer.saved == []
    assert rig.sounds() == [Earcon.LISTENING, Earcon.ERROR]


def test_long_press_takes_a_photo_captioned_by_the_next_utterance(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(["This is the new bike shed."], camera=FakeCamera())
    press(rig, "long")
    eventually(lambda: rig.driver.hooks.expecting_utterance)
    assert rig.sounds() == [Earcon.SHUTTER] and rig.writer.saved == []
    rig.driver.feed(frames(QUIET, 0.3) + frames(SPEECH, 1) + frames(QUIET, 1))
    assert rig.device.wait_idle(3)
    ((memory, media),) = rig.writer.saved
    assert memory.text == photo_text("This is the new bike shed.", 1_700_000_000.0)
    assert (memory.kind, memory.source, memory.created) == (
        Kind.IMAGE,
        Origin.CAMERA,
        1_700_000_000.0,
    )
    assert media == MediaInput(JPEG, "jpg")
    assert memory.provenance == "fake0 (button)"
    (taken,) = rig.of(SnapshotTaken)
    assert isinstance(taken, SnapshotTaken) and taken.memory_id == memory.id
    assert taken.path == str(rig.writer.user_dir / "media/0.jpg")
    assert rig.sounds() == [Earcon.SHUTTER, Earcon.SAVED]
    assert rig.driver.turns == []


def test_photo_without_a_caption_when_nothing_is_said(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig([], camera=FakeCamera(), caption_s=1.0)
    press(rig, "long")
    eventually(lambda: rig.driver.hooks.expecting_utterance)
    rig.driver.feed(frames(QUIET, 1.5))
    assert rig.device.wait_idle(3)
    ((memory, _),) = rig.writer.saved
    assert memory.text.endswith("(no caption).")


def test_cancel_as_caption_keeps_the_photo_uncaptioned(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(["Cancel."], camera=FakeCamera())
    press(rig, "long")
    eventually(lambda: rig.driver.hooks.expecting_utterance)
    rig.driver.feed(frames(SPEECH, 0.5) + frames(QUIET, 1))
    assert rig.device.wait_idle(3)
    assert rig.writer.saved[0][0].text.endswith("(no caption).")


@pytest.mark.parametrize("error", ["camera-open-failed", "camera-no-frame", None])
def test_camera_failure_is_reported_and_nothing_is_saved(
    make_rig: Callable[..., Rig], error: str | None
) -> None:
    rig = make_rig([], camera=FakeCamera(error) if error else None)
    press(rig, "long")
    assert rig.device.wait_idle(3)
    assert rig.writer.saved == [] and rig.of(SnapshotTaken) == []
    (failed,) = rig.of(StageError)
    assert isinstance(failed, StageError)
    assert (failed.stage, failed.code) == ("camera", error or "camera-missing")
    assert rig.sounds() == [Earcon.ERROR]
    assert rig.spoken == [
        {
            "camera-open-failed": "I could not open the camera.",
            "camera-no-frame": "The camera gave me no picture.",
            None: "The camera is not set up.",
        }[error]
    ]


def test_double_press_mutes_and_unmutes(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(["never used"])
    press(rig, "double")
    assert rig.device.muted
    rig.driver.feed(frames(WAKE, 0.24) + frames(SPEECH, 1) + frames(QUIET, 1))
    assert rig.driver.woke() == 0 and rig.driver.listener.muted
    press(rig, "short")  # a memo while muted is refused: the microphone is off
    assert rig.device.wait_idle(3)
    assert rig.writer.saved == [] and not rig.driver.hooks.capturing
    refused = rig.of(StageError)
    assert [e.code for e in refused if isinstance(e, StageError)] == ["mic-muted"]
    press(rig, "double")
    rig.driver.feed(frames(QUIET, 0.08) + frames(WAKE, 0.24))
    assert rig.driver.woke() == 1
    assert rig.device.wait_idle(3)
    assert [e.muted for e in rig.of(MicMuted) if isinstance(e, MicMuted)] == [True, False]
    assert rig.sounds() == [Earcon.MUTED, Earcon.ERROR, Earcon.UNMUTED]


def test_take_a_picture_by_voice(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(["My desk at work."], camera=FakeCamera())
    assert rig.device.snapshot_for_voice() is None  # shutter played, caption pending
    assert rig.sounds() == [Earcon.SHUTTER]
    eventually(lambda: rig.driver.hooks.expecting_utterance)
    rig.driver.feed(frames(SPEECH, 1) + frames(QUIET, 1))
    assert rig.device.wait_idle(3)
    assert rig.writer.saved[0][0].text.endswith(": My desk at work.")
    assert rig.writer.saved[0][0].provenance == "fake0 (voice)"


def test_take_a_picture_by_voice_without_a_camera_says_so(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig([], camera=None)
    assert rig.device.snapshot_for_voice() == "The camera is not set up."
    assert rig.sounds() == [] and rig.spoken == []  # the conversation says it, not the device
    assert [e.code for e in rig.of(StageError) if isinstance(e, StageError)] == ["camera-missing"]


def test_close_saves_a_photo_still_waiting_for_its_caption(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig([], camera=FakeCamera(), caption_s=30)
    press(rig, "long")
    eventually(lambda: rig.driver.hooks.expecting_utterance)
    rig.device.close()
    assert [m.text.endswith("(no caption).") for m, _ in rig.writer.saved] == [True]


def test_photo_text_names_the_day_and_time() -> None:
    taken = time.mktime((2026, 3, 3, 14, 5, 0, 0, 0, -1))
    assert (
        photo_text("my red bike. ", taken)
        == "Photograph taken on Tuesday 3 March 2026 at 14:05: my red bike."
    )
    assert (
        photo_text("", taken) == "Photograph taken on Tuesday 3 March 2026 at 14:05 (no caption)."
    )


def test_close_ends_a_memo_waiting_for_frames_that_never_come(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig([])
    press(rig, "short")
    press(rig, "long")  # queued behind the memo: dropped on close
    eventually(lambda: rig.driver.hooks.capturing)
    start = time.monotonic()
    rig.device.close()
    assert time.monotonic() - start < 1.0
    assert rig.writer.saved == [] and not rig.driver.hooks.capturing
