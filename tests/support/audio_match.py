"""Where played audio turns up in what a microphone heard or the virtual card recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from secondself.core.protocols import FRAME_SAMPLES
from tests.conftest import silence

if TYPE_CHECKING:
    from secondself.voice.microphone import Microphone
    from secondself.voice.microphone_supervisor import MicrophoneSupervisor
    from secondself.voice.virtual_soundcard import VirtualSoundCard


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
