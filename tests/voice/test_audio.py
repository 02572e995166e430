"""Microphone and speaker through the real sounddevice path, on the virtual sound card.

PulseAudio is real time: each test plays a second or two of speech and takes about that long.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

import numpy as np
import pytest
from numpy.typing import NDArray

from secondself.core.errors import SecondselfError, Stage
from secondself.core.protocols import FRAME_SAMPLES, Speech
from secondself.voice.resample import resample
from secondself.voice.speaker import (
    Microphone,
    MicrophoneSupervisor,
    MicState,
    SoundDeviceSpeaker,
    list_devices,
)
from tests.conftest import Say, silence

if TYPE_CHECKING:
    from secondself.voice.virtual_soundcard import VirtualSoundCard


pytestmark = pytest.mark.e2e

SENTENCE = "The quick brown fox jumps over the lazy dog."


def best_match(heard: NDArray[np.int16], source: NDArray[np.int16]) -> tuple[float, float]:
    """(normalised correlation, heard/source RMS ratio) where source fits best in heard.

    Pads `heard` on both sides, so a source whose first milliseconds were not recorded (the
    recorder and the player start a few ms apart) still matches.
    """
    y = source.astype(np.float64)
    x = np.concatenate([np.zeros(y.size), heard.astype(np.float64), np.zeros(y.size)])
    n = 1 << int(np.ceil(np.log2(x.size + y.size)))
    xcorr = np.fft.irfft(np.fft.rfft(x, n) * np.conj(np.fft.rfft(y, n)), n)[: x.size - y.size + 1]
    lag = int(np.argmax(xcorr))
    segment = x[lag : lag + y.size]
    corr = float(xcorr[lag] / (np.linalg.norm(segment) * np.linalg.norm(y) + 1e-9))
    return corr, float(np.sqrt(np.mean(segment**2)) / np.sqrt(np.mean(y**2)))


def window_matches(
    heard: NDArray[np.int16], source: NDArray[np.int16], window_s: float = 0.4
) -> tuple[float, float]:
    """Median (correlation, level ratio) of the source's voiced windows, each matched on its
    own: a test player's glitch under CPU load (a few ms of inserted silence) shifts the
    rest of the clip, which would sink one whole-clip correlation but only one window here."""
    size = int(window_s * 16000)
    loudness = np.sqrt(np.mean(source.astype(np.float64) ** 2))
    matches = [
        best_match(heard, part)
        for start in range(0, source.size - size + 1, size)
        if np.sqrt(np.mean((part := source[start : start + size]).astype(np.float64) ** 2))
        > 0.3 * loudness
    ]
    assert matches, "the source is silent"
    corr, gain = np.median(np.array(matches), axis=0)
    return float(corr), float(gain)


def listen(mic: Microphone | MicrophoneSupervisor, card: VirtualSoundCard,
           audio: NDArray[np.int16]) -> NDArray[np.int16]:  # fmt: skip
    """Plays `audio` into the mic and returns what the microphone delivered meanwhile."""
    player = card.play_into_mic(np.concatenate([audio, silence(0.3)]), wait=False)
    frames: list[NDArray[np.int16]] = []
    while player.poll() is None:
        frame = mic.read_frame(timeout=1.0)
        assert frame is not None, "no frame within 1 s"
        assert frame.dtype == np.int16 and frame.shape == (FRAME_SAMPLES,)
        frames.append(frame)
    return np.concatenate(frames)


@pytest.mark.parametrize("device_rate", [None, 48000, 44100], ids=["16k", "48k", "44.1k"])
def test_microphone_hears_speech_as_16k_frames(
    soundcard: VirtualSoundCard, say: Say, device_rate: int | None
) -> None:
    speech = say(SENTENCE)
    with Microphone("", sample_rate=device_rate) as mic:
        assert mic.device_rate == (device_rate or 16000)
        heard = listen(mic, soundcard, speech)
        stats = mic.stats
    corr, gain = window_matches(heard, speech)
    assert corr > 0.9, f"correlation {corr:.3f} (whole clip {best_match(heard, speech)}, {stats})"
    assert 0.7 < gain < 1.3, f"level ratio {gain:.2f}"
    assert stats.dropped_frames == 0 and stats.overflows == 0
    assert stats.frames == heard.size // FRAME_SAMPLES


def test_microphone_frames_for_asyncio_do_not_block_the_loop(soundcard: VirtualSoundCard) -> None:
    async def main(mic: Microphone) -> tuple[int, float]:
        gaps: list[float] = []

        async def ticker() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        count = 0
        async for frame in mic.frames():
            assert frame.shape == (FRAME_SAMPLES,)
            count += 1
            if count == 10:
                break
        tick.cancel()
        return count, max(gaps)

    with Microphone("pulse") as mic:
        count, worst_gap = asyncio.run(main(mic))
    assert count == 10
    assert worst_gap < 0.05, f"the event loop stalled for {worst_gap * 1000:.0f} ms"


@pytest.mark.parametrize("rate", [16000, 22050])
def test_speaker_plays_to_the_device(soundcard: VirtualSoundCard, say: Say, rate: int) -> None:
    speech = np.concatenate([silence(0.1), say(SENTENCE)])
    clip = resample(speech, 16000, rate)  # piper voices speak at 22050 Hz
    soundcard.start_recording(16000)
    with SoundDeviceSpeaker("") as speaker:
        start = time.monotonic()
        speaker.play(Speech(clip, rate))
        took = time.monotonic() - start
        assert not speaker.interrupted and not speaker.is_playing
    time.sleep(0.1)
    recorded = soundcard.stop_recording()
    corr, gain = window_matches(recorded, speech)
    assert corr > 0.9, f"correlation {corr:.3f} (whole clip {best_match(recorded, speech)})"
    assert 0.7 < gain < 1.3, f"level ratio {gain:.2f}"
    duration = speech.size / 16000
    assert duration - 0.05 < took < duration + 0.4, f"play took {took:.2f} s for {duration:.2f} s"


def test_speaker_stop_interrupts_quickly(soundcard: VirtualSoundCard) -> None:
    tone = (np.sin(np.arange(5 * 16000) * 2 * np.pi * 440 / 16000) * 8000).astype(np.int16)
    soundcard.start_recording(16000)
    with SoundDeviceSpeaker("") as speaker:
        player = threading.Thread(target=speaker.play, args=(Speech(tone, 16000),))
        player.start()
        time.sleep(0.6)
        assert speaker.is_playing
        stopped = time.monotonic()
        speaker.stop()
        player.join(timeout=2)
        took = time.monotonic() - stopped
        assert not player.is_alive()
        assert speaker.interrupted and not speaker.is_playing
        assert took < 0.05, f"play returned {took * 1000:.0f} ms after stop()"
        speaker.play(Speech(tone[:1600], 16000))  # the next play works and is not interrupted
        assert not speaker.interrupted
    time.sleep(0.2)
    loud = np.flatnonzero(np.abs(soundcard.stop_recording()) > 2000)
    first_play = loud[loud < loud[0] + 16000 * 2]
    heard_s = (first_play[-1] - first_play[0]) / 16000
    assert heard_s < 0.6 + 0.15, f"the tone went on for {heard_s:.2f} s after 0.6 s"


@pytest.mark.parametrize("kind", ["microphone", "speaker"])
def test_missing_device_is_a_clear_error(soundcard: VirtualSoundCard, kind: str) -> None:
    with pytest.raises(SecondselfError) as caught:
        if kind == "microphone":
            Microphone("no-such-usb-mic").start()
        else:
            SoundDeviceSpeaker("no-such-usb-mic").play(Speech(silence(0.1), 16000))
    error = caught.value
    assert error.code == "audio-device-missing" and error.stage == Stage.AUDIO
    assert "'no-such-usb-mic'" in error.message and "pulse" in error.message
    assert "secondself doctor" in error.message


def test_list_devices_shows_the_card(soundcard: VirtualSoundCard) -> None:
    devices = {d.name: d for d in list_devices()}
    assert devices["pulse"].inputs > 0 and devices["pulse"].outputs > 0
    assert any(d.default_input for d in devices.values())


def test_supervisor_survives_the_microphone_going_and_coming_back(
    mic_plugged: VirtualSoundCard, say: Say
) -> None:
    card = mic_plugged
    states: list[MicState] = []
    changed = threading.Event()

    def on_state(state: MicState, detail: str) -> None:
        states.append(state)
        changed.set()

    def wait_for(state: MicState, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not (states and states[-1] == state):
            assert time.monotonic() < deadline, f"no {state} after {timeout} s: {states}"
            changed.wait(0.1)
            changed.clear()

    # The default stall_s (3 s) outlasts a new null sink's first 2 s block after add_mic.
    with MicrophoneSupervisor(Microphone, retry_s=0.3, on_state=on_state) as supervisor:
        wait_for(MicState.OPEN)
        assert supervisor.read_frame(timeout=1.0) is not None
        card.remove_mic()
        wait_for(MicState.MISSING)
        while supervisor.read_frame(timeout=0.1) is not None:
            pass  # what was buffered before the unplug
        assert supervisor.read_frame(timeout=0.5) is None
        card.add_mic()
        wait_for(MicState.OPEN)
        heard = listen(supervisor, card, say("I am back."))
    assert window_matches(heard, say("I am back."))[0] > 0.9
    assert states == [MicState.OPEN, MicState.MISSING, MicState.OPEN, MicState.STOPPED]


def test_supervisor_frames_for_asyncio(soundcard: VirtualSoundCard) -> None:
    async def main() -> int:
        count = 0
        with MicrophoneSupervisor(Microphone, retry_s=0.3) as supervisor:
            async for frame in supervisor.frames():
                assert frame.shape == (FRAME_SAMPLES,)
                count += 1
                if count == 5:
                    break
        return count

    assert asyncio.run(asyncio.wait_for(main(), 5)) == 5


def test_importing_audio_touches_no_hardware() -> None:
    # `import sounddevice` runs Pa_Initialize, which opens every ALSA device to list it.
    code = "import sys, secondself.voice.speaker; sys.exit('sounddevice' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
