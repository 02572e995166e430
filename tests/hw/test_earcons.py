"""Earcons: short, distinct, click-free sounds made with numpy."""

from __future__ import annotations

import numpy as np
import pytest

from secondself.hw.earcons import Earcon, Earcons, synthesize
from tests.support.fakes import RecordingSpeaker

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("earcon", list(Earcon))
def test_each_earcon_is_short_loud_enough_and_starts_and_ends_quietly(earcon: Earcon) -> None:
    audio = synthesize(earcon, rate=16000, volume=0.5)
    assert audio.dtype == np.int16
    assert 0.1 <= audio.size / 16000 <= 0.5
    assert abs(int(np.abs(audio).max()) - 16383) <= 1  # peaks at the volume asked
    assert np.abs(audio[:3]).max() < 2000 and np.abs(audio[-3:]).max() < 2000  # no click


def test_earcons_differ_and_follow_the_rate() -> None:
    sounds = {e: synthesize(e, 22050) for e in Earcon}
    assert len({s.tobytes() for s in sounds.values()}) == len(Earcon)
    assert synthesize(Earcon.SAVED, 22050).size == pytest.approx(
        synthesize(Earcon.SAVED, 16000).size * 22050 / 16000, rel=0.01
    )


def test_rising_and_falling() -> None:
    def pitch(audio: np.ndarray) -> float:  # dominant frequency of a stretch
        spectrum = np.abs(np.fft.rfft(audio.astype(np.float64)))
        return float(np.argmax(spectrum) * 16000 / audio.size)

    listening = synthesize(Earcon.LISTENING)
    error = synthesize(Earcon.ERROR)
    assert pitch(listening[: listening.size // 3]) < pitch(listening[-listening.size // 3 :])
    assert pitch(error[: error.size // 3]) > pitch(error[-error.size // 3 :])


def test_player_plays_through_the_speaker_and_can_be_off() -> None:
    speaker = RecordingSpeaker()
    Earcons(speaker, rate=22050).play(Earcon.SHUTTER)
    assert len(speaker.played) == 1 and speaker.played[0].sample_rate == 22050
    Earcons(speaker, enabled=False).play(Earcon.SAVED)
    Earcons(None).play(Earcon.SAVED)
    assert len(speaker.played) == 1


def test_a_failing_speaker_does_not_raise() -> None:
    class Broken(RecordingSpeaker):
        def play(self, speech: object) -> None:  # type: ignore[override]
            raise RuntimeError("no device")

    Earcons(Broken()).play(Earcon.ERROR)
