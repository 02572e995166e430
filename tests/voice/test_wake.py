"""Wake word and voice activity on the real ONNX models, with speech made by piper at test time."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from secondself.core.protocols import FRAME_SAMPLES, SAMPLE_RATE
from secondself.voice.vad import SileroVad, load_vad
from secondself.voice.wake import OpenWakeWord, load_wake_words
from secondself.weights.manifest import ModelStore
from tests.conftest import Say, silence

pytestmark = pytest.mark.e2e

Audio = NDArray[np.int16]
THRESHOLD = 0.5
WAKE_PHRASE = "Hey Jarvis, what time is it?"
OTHER_PHRASE = "What is the weather like today?"


@pytest.fixture(scope="module")
def wake(model_store: ModelStore) -> OpenWakeWord:
    return load_wake_words(model_store, ["hey_jarvis"])


@pytest.fixture(scope="module")
def vad(model_store: ModelStore) -> SileroVad:
    return load_vad(model_store)


def frames(audio: Audio) -> list[Audio]:
    """80 ms frames, the last one padded with silence."""
    padded = np.pad(audio, (0, -len(audio) % FRAME_SAMPLES))
    return list(padded.reshape(-1, FRAME_SAMPLES))


def padded(audio: Audio) -> Audio:
    return np.concatenate([silence(0.5), audio, silence(0.5)])


def noise(seconds: float, amplitude: float = 3000.0) -> Audio:
    """White noise at about -20 dBFS, seeded so the test is repeatable."""
    rng = np.random.default_rng(7)
    samples = rng.standard_normal(int(seconds * SAMPLE_RATE)) * amplitude
    return samples.clip(-32768, 32767).astype(np.int16)


def wake_scores(wake: OpenWakeWord, audio: Audio) -> list[float]:
    wake.reset()
    return [wake.process(frame) for frame in frames(audio)]


def vad_probabilities(vad: SileroVad, audio: Audio) -> list[float]:
    vad.reset()
    return [vad.speech_probability(frame) for frame in frames(audio)]


def test_wake_phrase_scores_high(wake: OpenWakeWord, say: Say) -> None:
    assert max(wake_scores(wake, padded(say(WAKE_PHRASE)))) > THRESHOLD


def not_the_wake_word(kind: str, say: Say) -> Audio:
    if kind == "other-speech":
        return padded(say(OTHER_PHRASE))
    return silence(3.0) if kind == "silence" else noise(3.0)


@pytest.mark.parametrize("kind", ["other-speech", "silence", "white-noise"])
def test_other_audio_stays_low(wake: OpenWakeWord, say: Say, kind: str) -> None:
    assert max(wake_scores(wake, not_the_wake_word(kind, say))) < THRESHOLD


def test_reset_leaves_no_score_behind(wake: OpenWakeWord, say: Say) -> None:
    def hear_wake_phrase() -> None:
        wake.reset()
        for frame in frames(say(WAKE_PHRASE)):
            if wake.process(frame) > THRESHOLD:
                return
        pytest.fail("the wake phrase was not heard")

    quiet = frames(silence(1.0))
    hear_wake_phrase()
    without_reset = wake.process(quiet[0])
    hear_wake_phrase()
    wake.reset()
    after_reset = [wake.process(frame) for frame in quiet]
    # The classifier sees 1.28 s of embeddings: without a reset the wake lingers.
    assert without_reset > THRESHOLD
    assert max(after_reset) < THRESHOLD
    assert after_reset[0] == 0.0


def test_odd_frame_sizes_give_the_same_scores(wake: OpenWakeWord, say: Say) -> None:
    audio = np.concatenate(frames(padded(say(WAKE_PHRASE))))
    whole = wake_scores(wake, audio)
    wake.reset()
    halves = [wake.process(audio[i : i + 640]) for i in range(0, len(audio), 640)]
    assert halves[1::2] == pytest.approx(whole, abs=1e-5)


def test_vad_hears_speech(vad: SileroVad, say: Say) -> None:
    probabilities = vad_probabilities(vad, say(OTHER_PHRASE))
    voiced = sum(p > THRESHOLD for p in probabilities) / len(probabilities)
    assert max(probabilities) > 0.9
    assert voiced > 0.6


@pytest.mark.parametrize("audio", [silence(2.0), noise(2.0)], ids=["silence", "white-noise"])
def test_vad_ignores_silence_and_noise(vad: SileroVad, audio: Audio) -> None:
    assert max(vad_probabilities(vad, audio)) < THRESHOLD


def test_vad_reset_forgets_state(vad: SileroVad, say: Say) -> None:
    audio = padded(say(OTHER_PHRASE))
    first = vad_probabilities(vad, audio)
    assert vad_probabilities(vad, audio) == pytest.approx(first, abs=1e-6)
