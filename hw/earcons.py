"""Earcons: short sounds that say what the device did, synthesized with numpy (no files).

Each is a few sine notes with soft edges (no clicks), or a noise burst for the shutter;
all stay under half a second so they never hold up the next thing the device does.
"""

from __future__ import annotations

import logging
import threading
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from secondself.core.protocols import Speaker, Speech

log = logging.getLogger(__name__)

FADE_S = 0.006  # raised-cosine edges: a hard start or end clicks


class Earcon(StrEnum):
    LISTENING = "listening"  # rising: "go ahead, I am recording"
    SAVED = "saved"  # three rising notes: a memory was written
    ERROR = "error"  # two low falling notes
    SHUTTER = "shutter"  # two clicks of noise, like a camera
    MUTED = "muted"  # falling: the microphone is off
    UNMUTED = "unmuted"  # rising: the microphone is on again


# (frequency Hz, seconds) per note; 0 Hz is a pause.
NOTES: dict[Earcon, tuple[tuple[float, float], ...]] = {
    Earcon.LISTENING: ((880.0, 0.07), (0.0, 0.02), (1318.5, 0.09)),
    Earcon.SAVED: ((1046.5, 0.06), (1318.5, 0.06), (1568.0, 0.12)),
    Earcon.ERROR: ((440.0, 0.14), (0.0, 0.03), (329.6, 0.2)),
    Earcon.MUTED: ((987.8, 0.08), (659.3, 0.12)),
    Earcon.UNMUTED: ((659.3, 0.08), (987.8, 0.12)),
}


def _envelope(n: int, rate: int) -> NDArray[np.float64]:
    fade = min(int(FADE_S * rate), n // 2)
    env = np.ones(n)
    if fade:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, fade))
        env[:fade] = ramp
        env[n - fade :] = ramp[::-1]
    return env


def _note(freq: float, seconds: float, rate: int) -> NDArray[np.float64]:
    n = max(1, int(seconds * rate))
    if freq <= 0:
        return np.zeros(n)
    t = np.arange(n) / rate
    # A little of the third harmonic: small speakers barely play a pure high sine.
    tone = np.sin(2 * np.pi * freq * t) + 0.2 * np.sin(2 * np.pi * 3 * freq * t)
    return tone / 1.2 * _envelope(n, rate)


def _shutter(rate: int) -> NDArray[np.float64]:
    rng = np.random.default_rng(1234)  # the same sound every time

    def click(seconds: float, decay_s: float) -> NDArray[np.float64]:
        n = int(seconds * rate)
        noise = rng.uniform(-1.0, 1.0, n)
        noise = np.convolve(noise, np.ones(3) / 3, mode="same")  # take the hiss off
        return noise * np.exp(-np.arange(n) / (decay_s * rate)) * _envelope(n, rate)

    gap = np.zeros(int(0.06 * rate))
    return np.concatenate([click(0.03, 0.006), gap, 0.8 * click(0.045, 0.01)])


def synthesize(earcon: Earcon, rate: int = 16000, volume: float = 0.3) -> NDArray[np.int16]:
    """The earcon as mono int16 at `rate`, peaking at `volume` (0..1) of full scale."""
    if earcon is Earcon.SHUTTER:
        wave = _shutter(rate)
    else:
        wave = np.concatenate([_note(f, s, rate) for f, s in NOTES[earcon]])
    peak = float(np.max(np.abs(wave))) or 1.0
    scaled = wave / peak * max(0.0, min(1.0, volume)) * 32767
    return scaled.astype(np.int16)


class Earcons:
    """Plays earcons through a Speaker (blocking until heard); a no-op when disabled."""

    def __init__(
        self,
        speaker: Speaker | None,
        *,
        rate: int = 16000,
        volume: float = 0.3,
        enabled: bool = True,
    ) -> None:
        self.speaker = speaker
        self.rate = rate  # the voice's rate: the speaker need not reopen between the two
        self.volume = volume
        self.enabled = enabled and speaker is not None
        self._cache: dict[Earcon, Speech] = {}
        self._lock = threading.Lock()

    def sound(self, earcon: Earcon) -> Speech:
        with self._lock:
            if earcon not in self._cache:
                self._cache[earcon] = Speech(synthesize(earcon, self.rate, self.volume), self.rate)
            return self._cache[earcon]

    def play(self, earcon: Earcon) -> None:
        if not self.enabled or self.speaker is None:
            return
        try:
            self.speaker.play(self.sound(earcon))
        except Exception as exc:  # a missing speaker must not stop a memory being saved
            log.warning("earcon %s not played: %s", earcon, exc)
