"""The microphone through the real sounddevice path, on the virtual sound card.

PulseAudio is real time: each test plays a second or two of speech and takes about that long.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest

from secondself.core.protocols import FRAME_SAMPLES
from secondself.voice.microphone import Microphone
from tests.conftest import Say
from tests.support.audio_match import best_match, listen, window_matches

if TYPE_CHECKING:
    from secondself.voice.virtual_soundcard import VirtualSoundCard


pytestmark = pytest.mark.e2e

SENTENCE = "The quick brown fox jumps over the lazy dog."


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
