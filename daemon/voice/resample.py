"""Sample-rate conversion without scipy: FFT for whole clips, FIR filters for live streams."""

from __future__ import annotations

import math
from typing import Protocol

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


class StreamConverter(Protocol):
    """Converts a live stream block by block, carrying its state over between blocks."""

    def process(self, block: NDArray[np.int16]) -> NDArray[np.int16]: ...


class Passthrough:
    """The converter for a stream already at the wanted rate."""

    def process(self, block: NDArray[np.int16]) -> NDArray[np.int16]:
        return block


class StreamResampler:
    """Any-ratio streaming resampler for rates like 44.1 kHz (no integer ratio to 16 kHz).

    A windowed-sinc low-pass at 0.45 of the lower Nyquist rate, then linear interpolation
    between the filtered samples. The filter history and the fractional read position carry
    over between blocks, so block edges leave no clicks. The low-pass first keeps the
    interpolation's images small; this is plenty for speech recognition, not for hi-fi.
    """

    def __init__(self, src_rate: int, dst_rate: int, taps: int = 63) -> None:
        self._step = src_rate / dst_rate
        cutoff = 0.45 * min(1.0, dst_rate / src_rate)
        t = np.arange(taps) - (taps - 1) / 2
        kernel = 2 * cutoff * np.sinc(2 * cutoff * t) * np.hamming(taps)
        self._taps = (kernel / kernel.sum()).astype(np.float32)
        self._history = np.zeros(taps - 1, dtype=np.float32)
        self._last = np.float32(0.0)  # the previous block's last filtered sample
        self._pos = 1.0  # next output's position, counted from that sample

    def process(self, block: NDArray[np.int16]) -> NDArray[np.int16]:
        n = block.size
        if n == 0:
            return block
        x = np.concatenate([self._history, block.astype(np.float32)])
        self._history = x[-(self._taps.size - 1) :]
        y = np.concatenate([[self._last], np.convolve(x, self._taps, mode="valid")])
        count = max(0, math.ceil((n - self._pos) / self._step))
        pos = self._pos + np.arange(count) * self._step
        left = pos.astype(np.intp)
        frac = (pos - left).astype(np.float32)
        out = y[left] * (1 - frac) + y[np.minimum(left + 1, n)] * frac
        self._pos += count * self._step - n
        self._last = y[n]
        return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def stream_converter(src_rate: int, dst_rate: int) -> StreamConverter:
    """The cheapest converter that does the job: none, integer decimation, or resampling."""
    if src_rate == dst_rate:
        return Passthrough()
    factor = ratio(src_rate, dst_rate)
    if factor is not None:
        return StreamDecimator(factor)
    return StreamResampler(src_rate, dst_rate)
