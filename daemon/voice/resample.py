"""Sample-rate conversion without scipy: FFT for whole clips, a FIR filter for streams."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def resample(audio: NDArray[np.int16], src_rate: int, dst_rate: int) -> NDArray[np.int16]:
    """Band-limited resampling of a whole clip (FFT method: exact, fine for seconds of audio)."""
    if src_rate == dst_rate or audio.size == 0:
        return audio
    n_out = max(1, round(audio.size * dst_rate / src_rate))
    spectrum = np.fft.rfft(audio.astype(np.float64))
    keep = min(spectrum.size, n_out // 2 + 1)
    out = np.fft.irfft(spectrum[:keep], n_out) * (n_out / audio.size)
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


class StreamDecimator:
    """Integer-ratio down-sampling for live audio (e.g. a 48 kHz device to 16 kHz).

    Keeps the filter's history between blocks so block edges leave no clicks.
    """

    def __init__(self, factor: int, taps_per_phase: int = 16) -> None:
        if factor < 1:
            raise ValueError("factor must be >= 1")
        self.factor = factor
        n = factor * taps_per_phase + 1
        cutoff = 0.45 / factor  # a little under the new Nyquist frequency
        t = np.arange(n) - (n - 1) / 2
        taps = 2 * cutoff * np.sinc(2 * cutoff * t) * np.hamming(n)
        self._taps = (taps / taps.sum()).astype(np.float32)
        self._history = np.zeros(n - 1, dtype=np.float32)
        self._phase = 0

    def process(self, block: NDArray[np.int16]) -> NDArray[np.int16]:
        if self.factor == 1:
            return block
        x = np.concatenate([self._history, block.astype(np.float32)])
        filtered = np.convolve(x, self._taps, mode="valid")
        out = filtered[self._phase :: self.factor]
        consumed = filtered.size - self._phase
        self._phase = (-consumed) % self.factor
        self._history = x[-(self._taps.size - 1) :]
        return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def ratio(device_rate: int, target_rate: int) -> int | None:
    """The integer decimation factor from device_rate to target_rate, if there is one."""
    return device_rate // target_rate if device_rate % target_rate == 0 else None
