"""The speaker through the real sounddevice path, on the virtual sound card.

PulseAudio is real time: each test plays a second or two of speech and takes about that long.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import numpy as np
import pytest

from secondself.core.protocols import Speech
from secondself.voice.resample import resample
from secondself.voice.speaker import SoundDeviceSpeaker
from tests.conftest import Say, silence
from tests.support.audio_match import best_match, window_matches

if TYPE_CHECKING:
    from secondself.voice.virtual_soundcard import VirtualSoundCard


pytestmark = pytest.mark.e2e

SENTENCE = "The quick brown fox jumps over the lazy dog."


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
