"""Audio files as users have them, made at test time in every format `listen` takes, and
the one-line refusal of anything else."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile
from numpy.typing import NDArray

from secondself.cli.main import main
from secondself.core.errors import UserError
from secondself.voice.audio_file import read_audio, wav_bytes, write_wav

pytestmark = pytest.mark.unit

SECONDS = 0.5
TONE_HZ = 440.0


def tone(rate: int, seconds: float = SECONDS) -> NDArray[np.float64]:
    """A 440 Hz tone at half scale with a slow rise and fall, as floats in -1..1."""
    t = np.arange(int(rate * seconds)) / rate
    envelope = np.sin(np.pi * t / seconds)
    return 0.5 * envelope * np.sin(2 * np.pi * TONE_HZ * t)


def expected() -> NDArray[np.float64]:
    """The tone as `read_audio` should return it: 16 kHz, in int16 units."""
    return tone(16000) * 32768


def error_in_lsb(audio: NDArray[np.int16]) -> float:
    assert audio.dtype == np.int16
    assert audio.size == expected().size
    return float(np.max(np.abs(audio - expected())))


def correlation(audio: NDArray[np.int16]) -> float:
    assert abs(audio.size - expected().size) <= 1
    n = min(audio.size, expected().size)
    return float(np.corrcoef(audio[:n], expected()[:n])[0, 1])


# (file name, soundfile format, subtype, how close the 16-bit result must be, in LSB):
# finer formats round to the nearest 16-bit step (NEAREST), 16-bit ones may be one step off.
NEAREST = 0.51
LOSSLESS = [
    ("pcm16.wav", "WAV", "PCM_16", 1.0),
    ("pcm24.wav", "WAV", "PCM_24", NEAREST),
    ("pcm32.wav", "WAV", "PCM_32", NEAREST),
    ("pcm8.wav", "WAV", "PCM_U8", 256.0),  # 8-bit: 256 steps of 16-bit each
    ("float32.wav", "WAV", "FLOAT", NEAREST),
    ("float64.wav", "WAV", "DOUBLE", NEAREST),
    ("extensible16.wav", "WAVEX", "PCM_16", 1.0),  # the header the hand-written reader refused
    ("extensible24.wav", "WAVEX", "PCM_24", NEAREST),
    ("extensible-float.wav", "WAVEX", "FLOAT", NEAREST),
    ("clip.flac", "FLAC", "PCM_16", 1.0),
    ("clip24.flac", "FLAC", "PCM_24", NEAREST),
]


@pytest.mark.parametrize(("name", "fmt", "subtype", "lsb"), LOSSLESS)
def test_every_lossless_format_reads_as_the_same_samples(
    tmp_path: Path, name: str, fmt: str, subtype: str, lsb: float
) -> None:
    path = tmp_path / name
    soundfile.write(path, tone(16000), 16000, format=fmt, subtype=subtype)
    assert error_in_lsb(read_audio(path)) <= lsb


@pytest.mark.parametrize("subtype", ["VORBIS", "OPUS"])
def test_ogg_reads_as_the_tone(tmp_path: Path, subtype: str) -> None:
    path = tmp_path / f"clip-{subtype.lower()}.ogg"
    rate = 48000 if subtype == "OPUS" else 16000  # Opus runs at 48 kHz
    soundfile.write(path, tone(rate), rate, format="OGG", subtype=subtype)
    assert correlation(read_audio(path)) > 0.97


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000, 96000])
def test_any_rate_is_resampled_to_16_khz(tmp_path: Path, rate: int) -> None:
    path = tmp_path / f"clip-{rate}.wav"
    soundfile.write(path, tone(rate), rate, subtype="PCM_16")
    audio = read_audio(path)
    assert abs(audio.size - 8000) <= 1
    assert correlation(audio) > 0.999


def test_stereo_is_mixed_down(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    both = np.stack([tone(44100), np.zeros(22050)], axis=1)  # the tone on the left only
    soundfile.write(path, both, 44100, subtype="PCM_24")
    audio = read_audio(path)
    assert correlation(audio) > 0.999
    assert np.max(np.abs(audio)) == pytest.approx(0.5 * 0.5 * 32768, rel=0.02)  # half as loud


@pytest.mark.skipif(shutil.which("sox") is None, reason="needs sox (scripts/setup.sh --test)")
@pytest.mark.parametrize(
    "options",
    [["-b", "16"], ["-b", "24"], ["-b", "32"], ["-e", "floating-point", "-b", "32"]],
    ids=["16-bit", "24-bit-extensible", "32-bit-extensible", "float"],
)
def test_wavs_that_sox_writes_are_read(tmp_path: Path, options: list[str]) -> None:
    path = tmp_path / "sox.wav"
    subprocess.run(
        ["sox", "-n", "-r", "16000", "-c", "2", *options, str(path),
         "synth", "0.5", "sine", "440", "vol", "0.5"],
        check=True, capture_output=True,
    )  # fmt: skip
    audio = read_audio(path)
    assert audio.size == 8000
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.argmax(spectrum) * 16000 / audio.size == pytest.approx(TONE_HZ, abs=2)
    assert np.max(np.abs(audio)) == pytest.approx(0.5 * 32768, rel=0.02)


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "a folder, not an audio file"),
        (lambda p: p.write_bytes(b""), "not an audio file it can read"),
        (lambda p: p.write_text("my dog is called Biscuit\n"), "not an audio file it can read"),
        (lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt "), "not an audio file it can read"),
        (lambda p: p.write_bytes(wav_bytes(np.zeros(0, np.int16))), "it holds no audio"),
    ],
    ids=["missing", "folder", "empty", "text", "truncated-header", "no-samples"],
)
def test_unreadable_input_is_one_line_naming_the_file(
    tmp_path: Path, make: object, why: str
) -> None:
    path = tmp_path / "clip.wav"
    make(path)  # type: ignore[operator]
    with pytest.raises(UserError) as raised:
        read_audio(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: {why}")
    assert "\n" not in message and raised.value.exit_code == 2


def test_listen_refuses_a_bad_file_with_exit_2_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("not audio")
    home = tmp_path / "home"
    out = tmp_path / "replies"
    assert main(["--home", str(home), "listen", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "Traceback" not in err
    assert not home.exists() and not out.exists()


def test_written_wavs_are_16_bit_mono_and_read_back_exactly(tmp_path: Path) -> None:
    audio = (np.arange(-8000, 8000, 2) * 3).astype(np.int16)
    path = tmp_path / "replies" / "reply-01.wav"
    write_wav(path, audio, 16000)
    info = soundfile.info(path)
    assert (info.format, info.subtype, info.channels, info.samplerate) == (
        "WAV", "PCM_16", 1, 16000,
    )  # fmt: skip
    assert np.array_equal(read_audio(path), audio)


def test_wav_bytes_is_a_wav_of_the_audio() -> None:
    audio = (np.arange(1600) % 200).astype(np.int16)
    data = wav_bytes(audio)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert np.array_equal(np.frombuffer(data[44:], "<i2"), audio)
