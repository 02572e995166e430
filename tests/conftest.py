"""Shared fixtures: the real models folder and test speech made at test time by piper."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from secondself.core.paths import models_dir
from secondself.voice.resample import resample
from secondself.weights.manifest import ModelStore

Say = Callable[[str], NDArray[np.int16]]

pytest_plugins = ["tests.support.soundcard"]  # the `soundcard` fixture: a PulseAudio virtual card


@pytest.fixture(scope="session")
def model_store() -> ModelStore:
    folder = models_dir()
    if not (folder / "manifest.toml").is_file():
        pytest.fail(f"no models in {folder}: run `make setup` first")
    return ModelStore(folder)


@cache
def _voice(path: Path) -> object:
    from piper import PiperVoice

    return PiperVoice.load(str(path))


@pytest.fixture(scope="session")
def say(model_store: ModelStore) -> Say:
    """Text -> 16 kHz mono int16 speech, spoken by the piper voice (cached per text).

    Without noise: piper's default adds random variation to every take, which made a name
    heard right in one run and wrong in the next. The same text is now the same audio.
    """
    from piper import SynthesisConfig

    voice = _voice(model_store.path("en_US-joe-medium"))
    steady = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    spoken: dict[str, NDArray[np.int16]] = {}

    def speak(text: str) -> NDArray[np.int16]:
        if text not in spoken:
            chunks = list(voice.synthesize(text, syn_config=steady))  # type: ignore[attr-defined]
            audio = np.concatenate([c.audio_int16_array for c in chunks])
            spoken[text] = resample(audio, chunks[0].sample_rate, 16000)
        return spoken[text]

    return speak


def silence(seconds: float) -> NDArray[np.int16]:
    return np.zeros(int(seconds * 16000), dtype=np.int16)


# The sound card's own checks (device playback and capture timing) run first, on the card
# as it starts, as they did when they were one file at the top of the suite: run after the
# daemon tests, the speaker's timing checks fail (its playback took 4.6 s for 2.9 s), which
# is not diagnosed yet (docs: the note of stop 22).
FIRST = ("tests/voice/test_speaker.py", "tests/voice/test_microphone.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(FIRST))
