"""Speech to text: Moonshine (fast for short commands) and faster-whisper (long memos, fallback).

Both take 16 kHz mono int16 and load their model once, in the constructor. Moonshine's
encoder takes the clip as it is, so a 2 s command costs about a sixth of Whisper's, whose
encoder always pays for a padded 30 s window.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from secondself.core.errors import ConfigError, ModelError, Stage
from secondself.core.protocols import SAMPLE_RATE, Audio, Transcriber
from secondself.voice.onnx import cpu_session

if TYPE_CHECKING:
    from secondself.weights.manifest import ModelStore

MIN_SAMPLES = SAMPLE_RATE // 10  # under 0.1 s there is no word to hear (Moonshine's minimum)
MAX_CHUNK_SAMPLES = 30 * SAMPLE_RATE  # Moonshine takes at most 64 s a call: cut longer audio
TOKENS_PER_SECOND = 6
TOKEN_MARGIN = 10  # plain 6/s cuts a one-word "Stop." short
# Moonshine hears nothing (or stray quotes) after about 0.5 s of leading silence, and can
# drop a one-word command followed by 1 s of silence: keep at most this much at each edge.
EDGE_SAMPLES = SAMPLE_RATE // 4
QUIET_DB = -30.0  # a 20 ms frame this far below the loudest one counts as quiet,
NOISE_MARGIN_DB = 10.0  # and so does one less than this above the clip's noise floor


def _to_float(audio: Audio) -> NDArray[np.float32]:
    return (np.asarray(audio, dtype=np.int16).reshape(-1).astype(np.float32)) / 32768.0


def _trim_quiet_edges(audio: NDArray[np.float32]) -> NDArray[np.float32]:
    """Drop leading and trailing quiet beyond EDGE_SAMPLES; digital silence becomes empty."""
    frame = SAMPLE_RATE // 50
    count = len(audio) // frame
    if count == 0:
        return audio
    rms = np.sqrt(np.mean(audio[: count * frame].reshape(count, frame) ** 2, axis=1))
    loudest = float(rms.max())
    if loudest == 0.0:
        return audio[:0]
    # Quiet means well below the loudest frame, and clearly above the noise floor.
    floor = float(np.percentile(rms, 10))
    threshold = max(loudest * 10 ** (QUIET_DB / 20), floor * 10 ** (NOISE_MARGIN_DB / 20))
    loud = np.flatnonzero(rms >= threshold)
    if len(loud) == 0:  # flat noise: nothing stands out, so nothing to trim
        return audio
    start = max(0, int(loud[0]) * frame - EDGE_SAMPLES)
    end = min(len(audio), (int(loud[-1]) + 1) * frame + EDGE_SAMPLES)
    return audio[start:end]


def _split(audio: NDArray[np.float32], max_samples: int) -> list[NDArray[np.float32]]:
    """Cut long audio into chunks, each at the quietest 100 ms of its last 5 s."""
    chunks: list[NDArray[np.float32]] = []
    window = SAMPLE_RATE // 10
    while len(audio) > max_samples:
        tail = audio[max_samples - 5 * SAMPLE_RATE : max_samples]
        energy = np.convolve(tail**2, np.ones(window, dtype=np.float32), mode="valid")
        cut = max_samples - 5 * SAMPLE_RATE + int(np.argmin(energy)) + window // 2
        chunks.append(audio[:cut])
        audio = audio[cut:]
    chunks.append(audio)
    return chunks


class MoonshineTranscriber:
    """Moonshine base-en, int8 ONNX (made at set-up by `convert/moonshine_onnx.py`)."""

    def __init__(self, encoder: Path, decoder: Path, tokenizer: Path, threads: int = 1) -> None:
        from tokenizers import Tokenizer

        self._encoder = cpu_session(encoder, Stage.STT, threads)
        self._decoder = cpu_session(decoder, Stage.STT, threads)
        try:
            self._tokenizer = Tokenizer.from_file(str(tokenizer))
        except Exception as exc:  # tokenizers raises untyped errors
            message = f"cannot load Moonshine from {encoder.parent}: {exc}"
            raise ModelError(message, Stage.STT) from exc
        self._start = self._token_id("<s>")
        self._end = self._token_id("</s>")
        self._empty_cache = self._cache_shapes()
        self._outputs = [o.name for o in self._decoder.get_outputs()]

    def _token_id(self, token: str) -> int:
        token_id = self._tokenizer.token_to_id(token)
        if token_id is None:
            raise ModelError(f"Moonshine tokenizer has no {token} token", Stage.STT)
        return int(token_id)

    def _cache_shapes(self) -> dict[str, NDArray[np.float32]]:
        """Empty key/value caches, shaped from the model: (1, heads, 0, head_dim)."""
        caches = {}
        for spec in self._decoder.get_inputs():
            if spec.name.startswith("past_key_values."):
                _, heads, _, head_dim = spec.shape
                if not (isinstance(heads, int) and isinstance(head_dim, int)):
                    raise ModelError(f"Moonshine cache {spec.name} has no fixed shape", Stage.STT)
                caches[spec.name] = np.zeros((1, heads, 0, head_dim), dtype=np.float32)
        if not caches:
            raise ModelError("the Moonshine decoder has no past_key_values inputs", Stage.STT)
        return caches

    def transcribe(self, audio: Audio) -> str:
        samples = _trim_quiet_edges(_to_float(audio))
        if len(samples) < MIN_SAMPLES:
            return ""
        pieces = [self._transcribe_chunk(chunk) for chunk in _split(samples, MAX_CHUNK_SAMPLES)]
        return " ".join(p for p in pieces if p)

    def _transcribe_chunk(self, samples: NDArray[np.float32]) -> str:
        if len(samples) < MIN_SAMPLES:
            return ""
        hidden = self._encoder.run(None, {"input_values": samples[np.newaxis, :]})[0]
        limit = int(len(samples) / SAMPLE_RATE * TOKENS_PER_SECOND) + TOKEN_MARGIN
        tokens = self._decode(hidden, limit)
        return str(self._tokenizer.decode(tokens, skip_special_tokens=True)).strip()

    def _decode(self, hidden: NDArray[np.float32], limit: int) -> list[int]:
        """Greedy decoding with the merged decoder's key/value cache."""
        cache = dict(self._empty_cache)
        tokens: list[int] = []
        next_id = self._start
        for step in range(limit):
            feeds = {
                "input_ids": np.array([[next_id]], dtype=np.int64),
                "encoder_hidden_states": hidden,
                "use_cache_branch": np.array([step > 0], dtype=np.bool_),
                **cache,
            }
            logits, *present = self._decoder.run(self._outputs, feeds)
            next_id = int(logits[0, -1].argmax())
            if next_id == self._end:
                break
            tokens.append(next_id)
            self._update_cache(cache, present, first=step == 0)
        return tokens

    def _update_cache(
        self, cache: dict[str, NDArray[np.float32]], present: list[NDArray[np.float32]], first: bool
    ) -> None:
        # The encoder's keys and values are computed on the first step only and then reused.
        for name, value in zip(self._outputs[1:], present, strict=True):
            key = name.replace("present.", "past_key_values.", 1)
            if first or ".decoder." in key:
                cache[key] = value


class WhisperTranscriber:
    """faster-whisper (CTranslate2, int8) on the CPU: English, greedy unless beam_size > 1."""

    def __init__(self, model_dir: Path, threads: int = 1, beam_size: int = 1) -> None:
        from faster_whisper import WhisperModel

        try:
            self._model = WhisperModel(
                str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads
            )
        except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError with no code
            raise ModelError(f"cannot load Whisper from {model_dir}: {exc}", Stage.STT) from exc
        self._beam_size = beam_size

    def transcribe(self, audio: Audio) -> str:
        samples = _to_float(audio)
        if len(samples) < MIN_SAMPLES:
            return ""
        segments, _info = self._model.transcribe(
            samples,
            language="en",
            beam_size=self._beam_size,
            without_timestamps=True,
            vad_filter=False,  # the pipeline endpoints with its own VAD before this
            condition_on_previous_text=False,  # avoids repetition loops on long audio
        )
        return " ".join(s.text.strip() for s in segments if s.text.strip())


def load_transcriber(
    store: ModelStore, engine: str, threads: int, whisper_model: str, beam_size: int
) -> Transcriber:
    """The configured recogniser, loaded and ready (`stt.engine`: moonshine | whisper)."""
    if engine == "moonshine":
        return MoonshineTranscriber(
            encoder=store.path("moonshine-base-en", 0),
            decoder=store.path("moonshine-base-en", 1),
            tokenizer=store.path("moonshine-tokenizer", 0),
            threads=threads,
        )
    if engine == "whisper":
        return WhisperTranscriber(_whisper_dir(store, whisper_model), threads, beam_size)
    raise ConfigError(f"stt.engine: unknown engine '{engine}' (moonshine or whisper)")


def _whisper_dir(store: ModelStore, name: str) -> Path:
    """CTranslate2 loads a folder: check each of the model's files, then give their folder."""
    count = len(store.manifest.get(name).files)
    paths: list[Path] = [store.path(name, index) for index in range(count)]
    for path in paths:
        if path.name == "model.bin":
            return path.parent
    raise ModelError(f"model '{name}' has no model.bin: not a CTranslate2 Whisper", Stage.STT)
