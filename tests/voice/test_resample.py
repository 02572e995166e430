"""Live-stream rate conversion: a tone survives, block edges leave no clicks."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from secondself.voice.resample import StreamConverter, StreamResampler, stream_converter

pytestmark = pytest.mark.unit


def tone(rate: int, seconds: float = 1.0, hz: float = 440.0) -> NDArray[np.int16]:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16)


def in_blocks(convert: StreamConverter, audio: NDArray[np.int16], size: int) -> NDArray[np.int16]:
    """What the converter makes of `audio` fed to it as a stream of `size`-sample blocks."""
    blocks = [audio[i : i + size] for i in range(0, audio.size, size)]
    return np.concatenate([convert.process(block) for block in blocks])


def loudest_hz(audio: NDArray[np.int16], rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio.astype(np.float64)))
    return float(np.argmax(spectrum) * rate / audio.size)


@pytest.mark.parametrize("device_rate", [16000, 48000, 44100, 22050])
def test_a_stream_comes_out_at_16k_with_its_tone(device_rate: int) -> None:
    block = device_rate * 80 // 1000  # one 80 ms callback's worth
    heard = in_blocks(stream_converter(device_rate, 16000), tone(device_rate), block)
    assert abs(heard.size - 16000) <= 2
    assert abs(loudest_hz(heard, 16000) - 440) <= 2
    level = np.sqrt(np.mean(heard[200:].astype(np.float64) ** 2)) / (8000 / np.sqrt(2))
    assert 0.95 < level < 1.05, f"level ratio {level:.3f}"


def test_the_resampler_gives_the_same_samples_whatever_the_block_size() -> None:
    audio = tone(44100)
    whole = StreamResampler(44100, 16000).process(audio)
    blocked = in_blocks(StreamResampler(44100, 16000), audio, 3528)
    assert whole.size == blocked.size
    assert np.max(np.abs(whole.astype(np.int32) - blocked)) <= 1
