"""The button and camera end to end: gpiozero mock pins, a camera reading a video file made
here, the real recogniser (Moonshine), wake word and VAD, piper speech, and the real memory
store (SQLite + sqlite-vec + MiniLM). Frames go through the hooks as the voice loop sends
them (tests.hw.test_voice_hooks.LoopDriver)."""

from __future__ import annotations

import logging
import threading
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from secondself.answer.recall import PersonaMemory
from secondself.core.bus import Bus
from secondself.core.config import Config, load_config
from secondself.core.events import (
    Event,
    MemorySaved,
    MicMuted,
    SnapshotTaken,
    StageError,
    Transcript,
    VoiceMemoStarted,
)
from secondself.core.protocols import FRAME_SAMPLES, Audio, Transcriber
from secondself.hw.earcons import Earcon
from secondself.hw.led import LedState
from secondself.memory.embedding import LlamaEmbedder, load_embedder
from secondself.memory.model import Kind, Origin, SearchFilter
from secondself.memory.store import MemoryStore
from secondself.service.hardware import Hardware, start_hardware
from secondself.voice.listener import Listener, ListenerSettings, Woke
from secondself.voice.microphone import Microphone
from secondself.voice.speaker import SoundDeviceSpeaker
from secondself.voice.stt import load_transcriber
from secondself.voice.vad import SileroVad, load_vad
from secondself.voice.virtual_soundcard import VirtualSoundCard
from secondself.voice.wake import OpenWakeWord, load_wake_words
from secondself.weights.manifest import ModelStore
from tests.conftest import Say, silence
from tests.hw.test_camera import write_video
from tests.hw.test_voice_hooks import LoopDriver
from tests.support.fakes import RecordingSpeaker

pytestmark = pytest.mark.e2e

BUTTON, RED, GREEN, BLUE = 17, 5, 6, 13
MEMO = "The plumber is coming on Thursday at nine to fix the boiler."
CAPTION = "This is my new red bicycle in the garden."


@dataclass(frozen=True)
class Models:
    stt: Transcriber
    wake: OpenWakeWord
    embedder: LlamaEmbedder


@pytest.fixture(scope="module")
def models(model_store: ModelStore) -> Models:
    return Models(
        stt=load_transcriber(model_store, "moonshine", 1, "whisper-tiny.en", 1),
        wake=load_wake_words(model_store, ["hey_jarvis"]),
        embedder=load_embedder(model_store, "all-minilm-l6-v2", threads=1),
    )


@pytest.fixture(scope="module")
def vad(model_store: ModelStore) -> SileroVad:
    return load_vad(model_store)


def config_for(tmp_path: Path, camera_source: str) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[gpio]
pin_factory = "mock"
[button]
pin = {BUTTON}
hold_s = 0.3
double_s = 0.15
memo_silence_s = 1.0
[camera]
source = "{camera_source}"
caption_s = 4.0
[led]
kind = "rgb"
pins = "{RED},{GREEN},{BLUE}"
"""
    )
    return load_config(path, environ={}, system_files=[])


@dataclass
class Daemon:
    """Everything a running daemon holds for the device, minus audio hardware."""

    hw: Hardware
    store: MemoryStore
    driver: LoopDriver
    factory: MockFactory
    speaker: RecordingSpeaker
    events: list[Event]

    def pin(self, n: int) -> MockPWMPin:
        pin: MockPWMPin = self.factory.pin(n)
        return pin

    def click(self, hold_s: float = 0.0) -> None:
        button = self.pin(BUTTON)
        button.drive_low()
        time.sleep(hold_s)
        button.drive_high()

    def feed_until(self, check: Callable[[], bool], timeout: float = 10.0) -> None:
        """Silence into the loop (as a quiet microphone would) until `check()` holds."""
        end = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < end, "timed out"
            self.driver.feed([np.zeros(FRAME_SAMPLES, np.int16)])
            time.sleep(0.01)

    def say(self, audio: Audio) -> None:
        padded = np.pad(audio, (0, (-audio.size) % FRAME_SAMPLES))
        self.driver.feed(padded.reshape(-1, FRAME_SAMPLES))

    def sounds(self) -> list[Earcon]:
        by_audio = {self.hw.device.earcons.sound(e).audio.tobytes(): e for e in Earcon}
        return [by_audio[s.audio.tobytes()] for s in self.speaker.played]

    def rgb(self) -> tuple[float, float, float]:
        return (self.pin(RED).state, self.pin(GREEN).state, self.pin(BLUE).state)


@pytest.fixture
def start(tmp_path: Path, models: Models, vad: SileroVad) -> Iterator[Callable[[str], Daemon]]:
    started: list[Daemon] = []

    def make(camera_source: str) -> Daemon:
        config = config_for(tmp_path, camera_source)
        bus = Bus()
        events: list[Event] = []
        bus.on(events.append)
        store = MemoryStore.open(tmp_path / "user", models.embedder, bus=bus)
        factory = MockFactory(pin_class=MockPWMPin)
        speaker = RecordingSpeaker()
        models.wake.reset()
        # The memo recorder shares the listener's VAD: both run on the listener thread.
        listener = Listener(models.wake, vad, ListenerSettings.from_config(config))
        hw = start_hardware(
            config, bus, memory=store, stt=models.stt, vad=vad, speaker=speaker, factory=factory
        )
        daemon = Daemon(hw, store, LoopDriver(hw.hooks, listener), factory, speaker, events)
        started.append(daemon)
        return daemon

    yield make
    for daemon in started:
        daemon.hw.close()
        daemon.store.close()
        daemon.factory.reset()


def media_files(store: MemoryStore) -> list[Path]:
    return sorted(p for p in (store.user_dir / "media").rglob("*") if p.is_file())


def test_short_press_records_a_spoken_memo_with_transcript_and_audio(
    start: Callable[[str], Daemon], say: Say, tmp_path: Path
) -> None:
    daemon = start(str(tmp_path / "no-camera.avi"))
    daemon.click()
    daemon.feed_until(lambda: daemon.hw.hooks.capturing)
    assert daemon.sounds() == [Earcon.LISTENING]
    assert daemon.rgb() == (0, 0, 1)  # blue: recording
    daemon.say(np.concatenate([silence(0.4), say(MEMO), silence(1.6)]))
    assert daemon.hw.device.wait_idle(30)

    (memory,) = daemon.store.recent(SearchFilter(persona="personal"))
    assert (memory.kind, memory.source) == (Kind.VOICE_NOTE, Origin.BUTTON)
    words = memory.text.lower()
    assert "plumber" in words and "thursday" in words and "boiler" in words, memory.text
    assert memory.media is not None and memory.media.endswith(".wav")
    with wave.open(str(daemon.store.user_dir / memory.media)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
        assert (wav.getframerate(), wav.getnchannels()) == (16000, 1)
    assert say(MEMO).size / 16000 <= seconds <= say(MEMO).size / 16000 + 2.5
    assert daemon.sounds() == [Earcon.LISTENING, Earcon.SAVED]
    assert daemon.rgb() == (0, 1, 0)  # green: saved
    assert daemon.driver.turns == []  # the memo was not taken for a question
    saved = [e for e in daemon.events if isinstance(e, MemorySaved)]
    assert [(e.kind, e.source) for e in saved] == [("voice_note", "button")]


def test_long_press_snapshot_captioned_by_the_next_utterance_and_found_by_a_question(
    start: Callable[[str], Daemon], say: Say, tmp_path: Path
) -> None:
    daemon = start(str(write_video(tmp_path / "camera.avi", frames=8)))
    daemon.click(hold_s=0.45)  # held past hold_s: a long press
    daemon.feed_until(lambda: daemon.hw.hooks.expecting_utterance)
    assert daemon.sounds() == [Earcon.SHUTTER]
    daemon.feed_until(lambda: daemon.driver.listener.mode == "listening")  # no wake word
    daemon.say(np.concatenate([say(CAPTION), silence(1.5)]))
    assert daemon.hw.device.wait_idle(30)

    (memory,) = daemon.store.recent(SearchFilter(persona="personal"))
    assert (memory.kind, memory.source) == (Kind.IMAGE, Origin.CAMERA)
    assert memory.text.startswith("Photograph taken on ") and "bicycle" in memory.text.lower()
    assert time.strftime("%H:%M", time.localtime(memory.created)) in memory.text  # the time
    assert memory.media is not None
    jpeg = daemon.store.user_dir / memory.media
    assert jpeg.read_bytes()[:3] == b"\xff\xd8\xff" and media_files(daemon.store) == [jpeg]
    (taken,) = [e for e in daemon.events if isinstance(e, SnapshotTaken)]
    assert (taken.path, taken.memory_id) == (str(jpeg), memory.id)
    assert daemon.driver.turns == [] and daemon.sounds() == [Earcon.SHUTTER, Earcon.SAVED]

    daemon.store.remember("My sister Anna lives in Lisbon")
    daemon.store.remember("The spare key is under the blue flower pot")
    for question in ("What did I photograph?", "Where is my red bike?"):
        found = daemon.store.search(question, SearchFilter(persona="personal"), limit=3)
        assert found[0].memory.id == memory.id, (question, [r.memory.text for r in found])
    # The voice path's recall (with its relevance cut) gives it to the answer model too.
    recalled = PersonaMemory(daemon.store, "personal").recall("What did I photograph?", 5)
    assert [s.memory_id for s in recalled][:1] == [memory.id]


def test_double_press_mutes_the_wake_word_and_unmutes_it(
    start: Callable[[str], Daemon], say: Say, tmp_path: Path
) -> None:
    daemon = start(str(tmp_path / "no-camera.avi"))
    question = np.concatenate([say("Hey Jarvis, what time is it?"), silence(1.5)])

    def double() -> None:
        daemon.click()
        time.sleep(0.05)
        daemon.click()

    double()
    assert daemon.hw.device.muted
    daemon.say(question)
    assert not any(isinstance(s, Woke) for s in daemon.driver.signals)
    assert daemon.rgb() == (1, 0, 0)  # red: the microphone is off
    double()
    assert not daemon.hw.device.muted
    daemon.say(question)
    assert sum(isinstance(s, Woke) for s in daemon.driver.signals) == 1
    assert [e.muted for e in daemon.events if isinstance(e, MicMuted)] == [True, False]
    assert daemon.hw.device.wait_idle(5)
    assert daemon.sounds() == [Earcon.MUTED, Earcon.UNMUTED]


CAMERA_ERRORS = {
    "empty video": "camera-no-frame",  # opens, but gives no frame
    "unplugged": "camera-open-failed",  # there at start, gone by the snapshot
    "absent": "camera-missing",  # not there at start: the daemon runs without it
}


@pytest.mark.parametrize("camera", list(CAMERA_ERRORS))
def test_camera_failure_is_a_clear_error_and_writes_nothing(
    start: Callable[[str], Daemon], tmp_path: Path, camera: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = tmp_path / "camera.avi"
    if camera != "absent":
        write_video(source, frames=0 if camera == "empty video" else 3)
    with caplog.at_level(logging.WARNING):
        daemon = start(str(source))
        if camera == "unplugged":
            source.unlink()
        daemon.click(hold_s=0.45)
        assert daemon.hw.device.wait_idle(10)
    (error,) = [e for e in daemon.events if isinstance(e, StageError)]
    assert (error.stage, error.code) == ("camera", CAMERA_ERRORS[camera])
    if camera == "absent":
        (line,) = [
            r.getMessage() for r in caplog.records if r.name == "secondself.service.hardware"
        ]
        assert line.startswith(f"hardware: camera off: {source} not found")
    else:
        assert str(source) in error.message
    assert any(error.message in r.getMessage() for r in caplog.records)  # logged
    assert daemon.store.count() == 0 and not (daemon.store.user_dir / "media").exists()
    assert daemon.sounds() == [Earcon.ERROR]
    assert daemon.hw.led is not None and daemon.hw.led.state is LedState.ERROR


def test_transcript_events_carry_the_memo_text_for_the_console(
    start: Callable[[str], Daemon], say: Say, tmp_path: Path
) -> None:
    daemon = start(str(tmp_path / "none.avi"))
    daemon.hw.device.do(daemon.hw.device.settings.short)
    daemon.feed_until(lambda: daemon.hw.hooks.capturing)
    daemon.say(np.concatenate([say("Pick up the dry cleaning."), silence(1.6)]))
    assert daemon.hw.device.wait_idle(30)
    (transcript,) = [e for e in daemon.events if isinstance(e, Transcript)]
    assert "dry cleaning" in transcript.text.lower()
    assert [type(e).__name__ for e in daemon.events if isinstance(e, VoiceMemoStarted)]


# --- live, through the virtual sound card ----------------------------------------------


def test_live_button_memo_through_the_virtual_sound_card(
    soundcard: VirtualSoundCard, models: Models, vad: SileroVad, say: Say, tmp_path: Path
) -> None:
    """The memo is spoken into the virtual microphone in real time; the earcons come out of
    the virtual speaker. Only the button is a mock."""
    config = config_for(tmp_path, str(tmp_path / "none.avi"))
    bus = Bus()
    store = MemoryStore.open(tmp_path / "user", models.embedder, bus=bus)
    factory = MockFactory(pin_class=MockPWMPin)
    speaker = SoundDeviceSpeaker()
    models.wake.reset()
    listener = Listener(models.wake, vad, ListenerSettings.from_config(config))
    hw = start_hardware(
        config, bus, memory=store, stt=models.stt, vad=vad, speaker=speaker, factory=factory
    )
    driver = LoopDriver(hw.hooks, listener)
    microphone = Microphone().start()
    stop = threading.Event()

    def pump() -> None:  # the voice loop's job: every microphone frame through the hooks
        while not stop.is_set():
            frame = microphone.read_frame(timeout=0.5)
            if frame is not None:
                driver.feed([frame])

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    soundcard.start_recording(rate=16000)
    try:
        factory.pin(BUTTON).drive_low()
        factory.pin(BUTTON).drive_high()
        deadline = time.monotonic() + 10
        while not hw.hooks.capturing:
            assert time.monotonic() < deadline, "the memo did not start"
            time.sleep(0.02)
        soundcard.play_into_mic(np.concatenate([say(MEMO), silence(0.3)]))
        assert hw.device.wait_idle(40)
    finally:
        played = soundcard.stop_recording()
        stop.set()
        thread.join(5)
        microphone.stop()
        hw.close()
        speaker.close()
        factory.reset()
    try:
        (memory,) = store.recent(SearchFilter(persona="personal"))
        assert memory.kind is Kind.VOICE_NOTE and memory.media is not None
        assert "plumber" in memory.text.lower() and "boiler" in memory.text.lower(), memory.text
        assert (store.user_dir / memory.media).stat().st_size > say(MEMO).size * 2
    finally:
        store.close()
    # Both earcons (listening, saved) were heard on the speaker: two separate bursts.
    loud = np.abs(played.astype(np.int32)) > 2000
    bursts = np.flatnonzero(np.diff(loud.astype(np.int8)) == 1)
    assert len(bursts) >= 2 and (bursts[-1] - bursts[0]) / 16000 > 1.0
