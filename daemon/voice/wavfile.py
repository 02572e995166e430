"""Reading and writing WAV files (recordings for `listen`, replies, voice memos)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from secondself.core.errors import UserError
from secondself.core.protocols import SAMPLE_RATE, Audio
from secondself.voice.resample import resample

MAX_SECONDS = 3600  # a longer file is almost certainly a mistake


def read_wav(path: Path, rate: int = SAMPLE_RATE) -> Audio:
    """A PCM WAV as mono int16 at `rate`: channels mixed down, other rates resampled."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, src_rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            frames = wav.getnframes()
            if src_rate <= 0 or channels <= 0:
                raise UserError("bad-audio", f"{path}: a WAV with no sample rate or channels")
            if frames / src_rate > MAX_SECONDS:
                raise UserError("bad-audio", f"{path}: longer than {MAX_SECONDS // 60} minutes")
            raw = wav.readframes(frames)
    except FileNotFoundError:
        raise UserError("bad-audio", f"{path}: no such file") from None
    except (wave.Error, EOFError) as exc:
        raise UserError("bad-audio", f"{path}: not a PCM WAV file ({exc})") from None
    if width == 2:
        samples = np.frombuffer(raw, dtype="<i2").astype(np.int32)
    elif width == 1:
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.int32) - 128) << 8
    elif width == 4:
        samples = np.frombuffer(raw, dtype="<i4") >> 16
    else:
        raise UserError("bad-audio", f"{path}: {width * 8}-bit samples are not supported")
    usable = samples.size - samples.size % channels
    mono = samples[:usable].reshape(-1, channels).mean(axis=1)
    audio = np.clip(mono, -32768, 32767).astype(np.int16)
    return resample(audio, src_rate, rate)


def write_wav(path: Path, audio: Audio, rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(audio.astype("<i2").tobytes())
