"""Audio files in and out with libsndfile: recordings for `listen`, replies, voice memos."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile

from secondself.core.errors import UserError
from secondself.core.protocols import SAMPLE_RATE, Audio
from secondself.voice.resample import resample

MAX_SECONDS = 3600  # a longer file is almost certainly a mistake


def read_audio(path: Path, rate: int = SAMPLE_RATE) -> Audio:
    """Any file libsndfile reads as mono int16 at `rate`: WAV (8/16/24/32-bit PCM, float,
    extensible headers), FLAC, OGG Vorbis and Opus, ...; channels mixed down, resampled.

    Anything else is a one-line UserError that names the file and says why."""
    try:
        with path.open("rb") as stream, soundfile.SoundFile(stream) as sound:
            if sound.channels <= 0 or sound.samplerate <= 0:
                raise _bad(path, "no channels or no sample rate")
            if sound.frames > MAX_SECONDS * sound.samplerate:
                raise _bad(path, f"longer than {MAX_SECONDS // 60} minutes")
            samples = sound.read(dtype="float32", always_2d=True)
            src_rate = int(sound.samplerate)
    except FileNotFoundError:
        raise _bad(path, "no such file") from None
    except IsADirectoryError:
        raise _bad(path, "a folder, not an audio file") from None
    except PermissionError:
        raise _bad(path, "not allowed to read it") from None
    except OSError as exc:
        raise _bad(path, f"cannot read it: {exc.strerror or exc}") from None
    except soundfile.SoundFileError as exc:
        reason = str(getattr(exc, "error_string", exc)).rstrip(".").lower()
        raise _bad(path, f"not an audio file it can read ({reason})") from None
    if samples.shape[0] == 0:
        raise _bad(path, "it holds no audio")
    mono = samples.mean(axis=1)
    audio = np.clip(np.round(mono * 32768.0), -32768, 32767).astype(np.int16)
    return resample(audio, src_rate, rate)


def _bad(path: Path, why: str) -> UserError:
    return UserError("bad-audio", f"{path}: {why}")


def write_wav(path: Path, audio: Audio, rate: int) -> None:
    """A mono 16-bit PCM WAV (replies, the demo's recording)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, _mono_int16(audio), rate, format="WAV", subtype="PCM_16")


def wav_bytes(audio: Audio, rate: int = SAMPLE_RATE) -> bytes:
    """A mono 16-bit PCM WAV file in memory (a voice memo's audio, kept with the memory)."""
    out = io.BytesIO()
    soundfile.write(out, _mono_int16(audio), rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


def _mono_int16(audio: Audio) -> Audio:
    return np.asarray(audio, dtype=np.int16).reshape(-1)
