"""Speech to text with the real models, on speech piper makes at test time."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from secondself.core.errors import ConfigError
from secondself.core.protocols import Transcriber
from secondself.voice.stt import MoonshineTranscriber, load_transcriber
from secondself.weights.convert.moonshine_onnx import convert
from secondself.weights.manifest import ModelStore
from tests.conftest import Say, silence

pytestmark = pytest.mark.e2e

ENGINES = ["moonshine", "whisper"]
QUESTION = "What is my dog's name?"
MEMORY = "Remember that my dog is called Biscuit."

# What was said -> words that must come back (the rest may vary: "Biscuit" vs "biscuit").
EXPECTED = {
    QUESTION: ["what", "is", "my", "dog's", "name"],
    MEMORY: ["remember", "my", "dog", "called", "biscuit"],
}


def words(text: str) -> list[str]:
    """Lower-case words, punctuation and stray quotes dropped ("dog's" stays one word)."""
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)*", text.lower())


def noise(seconds: float, level: float, seed: int = 7) -> NDArray[np.float64]:
    return np.random.default_rng(seed).normal(0, level, int(seconds * 16000))


def as_int16(audio: NDArray[np.float64]) -> NDArray[np.int16]:
    return audio.clip(-32768, 32767).astype(np.int16)


@pytest.fixture(scope="module", params=ENGINES)
def transcriber(request: pytest.FixtureRequest, model_store: ModelStore) -> Transcriber:
    return load_transcriber(
        model_store, request.param, threads=1, whisper_model="whisper-tiny.en", beam_size=1
    )


@pytest.fixture(scope="module")
def moonshine(model_store: ModelStore) -> Transcriber:
    return load_transcriber(model_store, "moonshine", 1, "whisper-tiny.en", 1)


@pytest.mark.parametrize("sentence", list(EXPECTED))
def test_transcribes_a_spoken_command(transcriber: Transcriber, say: Say, sentence: str) -> None:
    heard = words(transcriber.transcribe(say(sentence)))
    missing = [w for w in EXPECTED[sentence] if w not in heard]
    assert not missing, f"heard {heard}, missing {missing}"


@pytest.mark.parametrize(
    ("lead", "trail", "hiss"),
    [(1.0, 1.0, 0.0), (2.0, 0.5, 0.0), (1.0, 1.0, 300.0)],
    ids=["silence-around", "long-lead", "noise-floor"],
)
def test_speech_with_quiet_around_it(
    transcriber: Transcriber, say: Say, lead: float, trail: float, hiss: float
) -> None:
    # Endpointed audio keeps some quiet before and after; Moonshine alone misses the
    # words after about 0.5 s of leading silence, so the transcriber must cope.
    speech = say(QUESTION).astype(np.float64)
    audio = np.concatenate([np.zeros(int(lead * 16000)), speech, np.zeros(int(trail * 16000))])
    if hiss:
        audio += noise(len(audio) / 16000, hiss)
    heard = words(transcriber.transcribe(as_int16(audio)))
    assert {"dog's", "name"} <= set(heard), heard


def test_a_one_word_command_followed_by_silence(moonshine: Transcriber, say: Say) -> None:
    # Moonshine only: tiny.en now and then hears piper's "Stop." as "Scott." or "It's got."
    heard = words(moonshine.transcribe(np.concatenate([say("Stop."), silence(1.0)])))
    assert heard == ["stop"]


@pytest.mark.parametrize("kind", ["silence", "noise"])
def test_no_speech_gives_little_or_nothing(transcriber: Transcriber, kind: str) -> None:
    audio = silence(2.0) if kind == "silence" else as_int16(noise(2.0, 3000))
    assert len(words(transcriber.transcribe(audio))) <= 2


@pytest.mark.parametrize("samples", [0, 1, 800])
def test_empty_or_very_short_audio_is_empty_text(transcriber: Transcriber, samples: int) -> None:
    assert transcriber.transcribe(np.zeros(samples, dtype=np.int16)) == ""


@pytest.mark.slow
def test_moonshine_cuts_audio_longer_than_one_call(moonshine: Transcriber, say: Say) -> None:
    first, second = say(QUESTION), say(MEMORY)
    gap = silence(35.0 - (len(first) + len(second)) / 16000)  # past the 30 s chunk
    heard = words(moonshine.transcribe(np.concatenate([first, gap, second])))
    assert {"name", "biscuit"} <= set(heard), heard


def test_unknown_engine_is_a_config_error(model_store: ModelStore) -> None:
    with pytest.raises(ConfigError, match=r"stt\.engine"):
        load_transcriber(model_store, "vosk", 1, "whisper-tiny.en", 1)


def test_set_up_converted_moonshine_to_int8(model_store: ModelStore) -> None:
    encoder = model_store.path("moonshine-base-en", 0)
    decoder = model_store.path("moonshine-base-en", 1)
    # As shipped the weights dequantize to fp32 (about 80 + 275 MB); int8 is 31 + 110 MB.
    assert encoder.stat().st_size < 50e6
    assert decoder.stat().st_size < 150e6


@pytest.mark.slow
def test_convert_makes_working_int8_models(
    model_store: ModelStore, say: Say, tmp_path: Path
) -> None:
    sources = [
        model_store.path("moonshine-base-en-source", 0),
        model_store.path("moonshine-base-en-source", 1),
        model_store.path("moonshine-tokenizer", 0),
    ]
    outputs = [tmp_path / "encoder_model.int8.onnx", tmp_path / "decoder_model_merged.int8.onnx"]
    convert(sources, outputs)
    # Only the outputs are left: the intermediate models are cleaned up.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in outputs)
    stt = MoonshineTranscriber(outputs[0], outputs[1], sources[2], threads=1)
    assert "biscuit" in words(stt.transcribe(say(MEMORY)))
