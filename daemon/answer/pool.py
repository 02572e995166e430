"""Answer models per persona: loaded on first use, unloaded least recently used under a RAM
budget (`llm.ram_budget_mb`).

A persona holds a `PooledModel`, an `AnswerModel` that checks its weights out of the pool for
the length of one answer. The pool unloads only models no answer is using; when every
loaded model is busy it goes over the budget for a while and gives the RAM back as soon as
an answer ends. Loading, loaded and unloading are published as events, with seconds.

How much RAM a model takes (`estimate_ram_mb`), from its file and the context length:
  1.15 x the file size   weights, memory-mapped and all touched, plus llama.cpp's compute
                         buffers (measured: 10-20% of the file for these small models)
  + the KV cache         2 (K and V) x layers x context x KV width x 2 bytes (f16), with
                         layers and KV width read from the GGUF header
  + 32 MB                the runtime
At context 2048 this gives SmolLM2-135M 185 MB (measured RSS 164 MB) and Qwen2.5-0.5B
595 MB (measured 578 MB). The budget covers answer models only, not STT, TTS or embeddings.
"""

from __future__ import annotations

import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from secondself.core.bus import Bus
from secondself.core.config import Config
from secondself.core.errors import ModelError, Stage
from secondself.core.events import ModelLoaded, ModelLoading, ModelUnloaded
from secondself.core.protocols import AnswerModel, ChatMessage
from secondself.weights.manifest import ModelStore

ROLE = "llm"
MB = 1024 * 1024
WEIGHTS_FACTOR = 1.15
RUNTIME_MB = 32
# When a header cannot be read: the KV cache of a 7-8B model with grouped-query attention
# (Llama 3 8B: 128 KiB a token), so a guess errs on the side of unloading.
FALLBACK_KV_BYTES_PER_TOKEN = 128 * 1024


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One answer model as loaded: two personas with equal specs share the loaded weights."""

    name: str  # a manifest name or the path the user gave (shown in events)
    path: Path
    context: int = 2048
    threads: int = 1
    temperature: float = 0.0


def spec_for(store: ModelStore, config: Config, model: str = "") -> ModelSpec:
    """A persona's model (`model`, else `llm.model`): a manifest name or a path to a GGUF,
    loaded with the `[llm]` threads, context and temperature."""
    name = model or config.llm.model
    path = store.resolve(name, Stage.ANSWER)
    llm = config.llm
    return ModelSpec(name, path, llm.context, llm.threads, llm.temperature)


class LoadedModel(AnswerModel, Protocol):
    def close(self) -> None: ...


Loader = Callable[[ModelSpec], LoadedModel]


def load_llama(spec: ModelSpec) -> LoadedModel:
    """The default loader: llama.cpp, with the fixed instructions evaluated once (warm)."""
    from secondself.answer.local_model import LlamaAnswerModel

    model = LlamaAnswerModel(spec.path, spec.name, spec.threads, spec.context, spec.temperature)
    model.warm_up()
    return model


# --- RAM estimate -----------------------------------------------------------------------


def estimate_ram_mb(path: Path, context: int) -> int:
    """The RAM a GGUF model takes loaded with `context` tokens (see the module docstring)."""
    size = path.stat().st_size
    kv_per_token = _kv_bytes_per_token(path) or FALLBACK_KV_BYTES_PER_TOKEN
    total = WEIGHTS_FACTOR * size + kv_per_token * context
    return round(total / MB) + RUNTIME_MB


def estimate_spec_mb(spec: ModelSpec) -> int:
    return estimate_ram_mb(spec.path, spec.context)


def _kv_bytes_per_token(path: Path) -> int | None:
    """K and V in f16 for one token, from the GGUF header; None when it cannot be read."""
    try:
        with path.open("rb") as f:
            meta = _gguf_metadata(f)
    except (OSError, ValueError, struct.error, UnicodeDecodeError):
        return None
    arch = meta.get("general.architecture")
    layers = meta.get(f"{arch}.block_count")
    width = meta.get(f"{arch}.embedding_length")
    heads = meta.get(f"{arch}.attention.head_count")
    if not (isinstance(layers, int) and isinstance(width, int) and isinstance(heads, int)):
        return None
    kv_heads = meta.get(f"{arch}.attention.head_count_kv")
    key = meta.get(f"{arch}.attention.key_length")
    value = meta.get(f"{arch}.attention.value_length")
    # Absent keys have llama.cpp's defaults: no grouping, head width = embedding / heads.
    kv_heads = kv_heads if isinstance(kv_heads, int) else heads
    key = key if isinstance(key, int) else width // max(heads, 1)
    value = value if isinstance(value, int) else key
    return layers * kv_heads * (key + value) * 2


# GGUF value types: struct format of the scalars; 8 = string, 9 = array.
_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_STRING, _ARRAY = 8, 9


def _gguf_metadata(f: BinaryIO) -> dict[str, object]:
    """The scalar and string key/values of a GGUF (v2+) header; arrays are skipped."""
    if f.read(4) != b"GGUF":
        raise ValueError("not a GGUF file")
    (version,) = struct.unpack("<I", f.read(4))
    if version < 2:
        raise ValueError(f"GGUF version {version}")
    _tensors, count = struct.unpack("<QQ", f.read(16))
    meta: dict[str, object] = {}
    for _ in range(count):
        key = _read_string(f)
        (kind,) = struct.unpack("<I", f.read(4))
        if kind == _ARRAY:
            _skip_array(f)
            continue
        meta[key] = _read_value(f, kind)
    return meta


def _read_string(f: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", f.read(8))
    return f.read(length).decode("utf-8")


def _read_value(f: BinaryIO, kind: int) -> object:
    if kind == _STRING:
        return _read_string(f)
    fmt = "<" + _SCALARS[kind]
    (value,) = struct.unpack(fmt, f.read(struct.calcsize(fmt)))
    return value


def _skip_array(f: BinaryIO) -> None:
    kind, length = struct.unpack("<IQ", f.read(12))
    if kind == _STRING:
        for _ in range(length):
            (size,) = struct.unpack("<Q", f.read(8))
            f.seek(size, 1)
    elif kind == _ARRAY:
        for _ in range(length):
            _skip_array(f)
    else:
        f.seek(struct.calcsize("<" + _SCALARS[kind]) * length, 1)


# --- the pool ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    model: LoadedModel
    ram_mb: int
    users: int = 0  # answers streaming from it now: never unloaded while > 0
    adopted: bool = False  # loaded by someone else, who closes it (unless it is unloaded)


class ModelPool:
    """Loaded answer models under a RAM budget (0 = no limit). Thread-safe."""

    def __init__(
        self,
        budget_mb: int,
        bus: Bus | None = None,
        loader: Loader = load_llama,
        estimate: Callable[[ModelSpec], int] = estimate_spec_mb,
    ) -> None:
        self.budget_mb = budget_mb
        self._bus = bus
        self._loader = loader
        self._estimate = estimate
        self._entries: OrderedDict[ModelSpec, _Entry] = OrderedDict()  # least recent first
        self._lock = threading.Lock()  # the entries
        self._loading = threading.Lock()  # one load at a time: make room, then fill it
        self._closed = False

    @classmethod
    def from_config(cls, config: Config, bus: Bus | None = None) -> ModelPool:
        return cls(config.llm.ram_budget_mb, bus)

    def model(self, spec: ModelSpec, persona: str = "") -> PooledModel:
        """The persona's answer model; its weights load when it first answers."""
        return PooledModel(self, spec, persona)

    def get(self, spec: ModelSpec, persona: str = "") -> PooledModel:
        """The persona's answer model, loaded now (at start, so the first answer is quick)."""
        self._checkout(spec, persona)
        self._checkin(spec)
        return PooledModel(self, spec, persona)

    def adopt(
        self, spec: ModelSpec, model: LoadedModel, persona: str = "", hand_over: bool = True
    ) -> PooledModel:
        """A model loaded elsewhere (at start, timed with the other stages) joins the pool:
        it counts against the budget and may be unloaded like any other. `hand_over`: the
        pool closes it with the others; else its owner does (a model shared by tests)."""
        with self._lock:
            if spec not in self._entries:
                self._entries[spec] = _Entry(model, self._estimate(spec), adopted=not hand_over)
        return PooledModel(self, spec, persona)

    def loaded(self) -> list[str]:
        """Names of the loaded models, least recently used first."""
        with self._lock:
            return [spec.name for spec in self._entries]

    @property
    def used_mb(self) -> int:
        with self._lock:
            return self._used_mb()

    def close(self) -> None:
        """Unload every model (those answering now, when their answer ends)."""
        with self._lock:
            self._closed = True
            idle = [(s, e) for s, e in self._entries.items() if e.users == 0]
            for spec, _ in idle:
                del self._entries[spec]
        for spec, entry in idle:
            self._unload(spec, entry, "close")

    # -- checkout / checkin ----------------------------------------------------------------

    def _checkout(self, spec: ModelSpec, persona: str) -> LoadedModel:
        """The loaded model for `spec` (loading it, unloading others to make room), marked
        in use until `_checkin`."""
        if (model := self._take(spec)) is not None:
            return model
        with self._loading:
            if (model := self._take(spec)) is not None:  # loaded while we waited
                return model
            need = self._estimate(spec)
            with self._lock:
                victims = self._idle_victims(need)
            self._publish(
                ModelLoading(
                    model=spec.name,
                    role=ROLE,
                    persona=persona,
                    estimate_mb=need,
                    budget_mb=self.budget_mb,
                )
            )
            for victim, entry in victims:
                self._unload(victim, entry, "budget")
            start = time.perf_counter()
            loaded = self._loader(spec)
            self._publish(
                ModelLoaded(model=spec.name, role=ROLE, seconds=time.perf_counter() - start)
            )
            with self._lock:
                self._entries[spec] = _Entry(loaded, need, users=1)
            return loaded

    def _checkin(self, spec: ModelSpec) -> None:
        with self._lock:
            entry = self._entries.get(spec)
            if entry is not None:
                entry.users -= 1
            if self._closed:
                victims = [(s, e) for s, e in self._entries.items() if e.users == 0]
                for s, _ in victims:
                    del self._entries[s]
                reason = "close"
            else:
                victims = self._idle_victims(0)  # back under budget if a load went over
                reason = "budget"
        for victim, gone in victims:
            self._unload(victim, gone, reason)

    def _take(self, spec: ModelSpec) -> LoadedModel | None:
        with self._lock:
            if self._closed:
                raise ModelError("the model pool is closed", Stage.ANSWER)
            entry = self._entries.get(spec)
            if entry is None:
                return None
            entry.users += 1
            self._entries.move_to_end(spec)
            return entry.model

    def _idle_victims(self, need_mb: int) -> list[tuple[ModelSpec, _Entry]]:
        """Remove (under the lock) idle models, least recently used first, until `need_mb`
        more fits in the budget or no idle model is left."""
        victims: list[tuple[ModelSpec, _Entry]] = []
        if self.budget_mb <= 0:
            return victims
        for spec, entry in list(self._entries.items()):
            if self._used_mb() + need_mb <= self.budget_mb:
                break
            if entry.users == 0:
                del self._entries[spec]
                victims.append((spec, entry))
        return victims

    def _used_mb(self) -> int:
        return sum(e.ram_mb for e in self._entries.values())

    def _unload(self, spec: ModelSpec, entry: _Entry, reason: str) -> None:
        if entry.adopted and reason == "close":
            return  # its owner closes it
        start = time.perf_counter()
        entry.model.close()
        self._publish(
            ModelUnloaded(
                model=spec.name,
                role=ROLE,
                reason=reason,
                freed_mb=entry.ram_mb,
                seconds=time.perf_counter() - start,
            )
        )

    def _publish(self, event: ModelLoading | ModelLoaded | ModelUnloaded) -> None:
        if self._bus is not None:
            self._bus.publish(event)


class PooledModel:
    """A persona's answer model in the pool: an `AnswerModel` whose weights are checked out
    for each answer (loaded then if they are not), so the pool never unloads them mid-answer."""

    def __init__(self, pool: ModelPool, spec: ModelSpec, persona: str = "") -> None:
        self.name = spec.name
        self.spec = spec
        self.persona = persona
        self._pool = pool

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int) -> Iterator[str]:
        model = self._pool._checkout(self.spec, self.persona)
        try:
            yield from model.stream(messages, max_tokens)
        finally:
            self._pool._checkin(self.spec)

    def __repr__(self) -> str:
        return f"PooledModel({self.name!r}, persona={self.persona!r})"
