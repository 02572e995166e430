"""The model pool's bookkeeping with fake models: first-use loading, LRU unloading under the
budget, models in use kept, one load for concurrent askers, closing, the GGUF estimate."""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from secondself.answer.pool import (
    FALLBACK_KV_BYTES_PER_TOKEN,
    ModelPool,
    ModelSpec,
    estimate_ram_mb,
)
from secondself.core.bus import Bus
from secondself.core.errors import ModelError
from secondself.core.events import Event, ModelLoaded, ModelLoading, ModelUnloaded
from secondself.core.protocols import ChatMessage

pytestmark = pytest.mark.unit

WAIT_S = 10.0
ASK = [ChatMessage("user", "hi")]


class FakeModel:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int) -> Iterator[str]:
        assert not self.closed, "answered from an unloaded model"
        yield f"{self.name} "
        assert not self.closed, "unloaded mid-answer"
        yield "says hi"

    def close(self) -> None:
        self.closed = True


class FakeLoader:
    def __init__(self) -> None:
        self.loaded: list[FakeModel] = []
        self.gate: threading.Event | None = None  # set: loads wait for it
        self.entered = threading.Event()  # a load has started
        self.fail = False

    def __call__(self, spec: ModelSpec) -> FakeModel:
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(WAIT_S)
        if self.fail:
            raise ModelError(f"cannot load {spec.name}")
        model = FakeModel(spec.name)
        self.loaded.append(model)
        return model


SIZES = {"a": 300, "b": 300, "c": 300}


def spec(name: str) -> ModelSpec:
    return ModelSpec(name, Path(f"/models/{name}.gguf"))


def make_pool(budget_mb: int) -> tuple[ModelPool, FakeLoader, list[Event]]:
    bus = Bus()
    seen: list[Event] = []
    bus.on(seen.append)
    loader = FakeLoader()
    pool = ModelPool(budget_mb, bus, loader, estimate=lambda s: SIZES[s.name])
    return pool, loader, seen


def ask(pool: ModelPool, name: str, persona: str = "") -> str:
    return "".join(pool.model(spec(name), persona).stream(ASK, 8))


def story(seen: list[Event]) -> list[str]:
    out = []
    for e in seen:
        if isinstance(e, ModelLoading):
            out.append(f"loading {e.model}")
        elif isinstance(e, ModelLoaded):
            out.append(f"loaded {e.model}")
        elif isinstance(e, ModelUnloaded):
            out.append(f"unloaded {e.model} ({e.reason})")
    return out


def test_loads_on_first_answer_only() -> None:
    pool, loader, seen = make_pool(1000)
    model = pool.model(spec("a"), persona="work")
    assert (loader.loaded, seen, model.name) == ([], [], "a")
    assert "".join(model.stream(ASK, 8)) == "a says hi"
    assert "".join(model.stream(ASK, 8)) == "a says hi"
    assert story(seen) == ["loading a", "loaded a"]
    loading = next(e for e in seen if isinstance(e, ModelLoading))
    assert (loading.persona, loading.estimate_mb, loading.budget_mb) == ("work", 300, 1000)
    assert all(e.seconds >= 0 for e in seen if isinstance(e, ModelLoaded))


def test_least_recently_used_is_unloaded_to_fit_the_budget() -> None:
    pool, loader, seen = make_pool(700)  # two of the three fit
    ask(pool, "a")
    ask(pool, "b")
    ask(pool, "c")  # a is the least recently used
    assert pool.loaded() == ["b", "c"] and pool.used_mb == 600
    ask(pool, "b")
    ask(pool, "a")  # now c is
    assert pool.loaded() == ["b", "a"]
    assert story(seen) == [
        "loading a",
        "loaded a",
        "loading b",
        "loaded b",
        "loading c",
        "unloaded a (budget)",
        "loaded c",
        "loading a",
        "unloaded c (budget)",
        "loaded a",
    ]
    assert [m.closed for m in loader.loaded] == [True, False, True, False]
    freed = [e.freed_mb for e in seen if isinstance(e, ModelUnloaded)]
    assert freed == [300, 300]


def test_personas_with_the_same_model_share_it() -> None:
    pool, loader, _ = make_pool(700)
    assert ask(pool, "a", "personal") == ask(pool, "a", "work") == "a says hi"
    assert len(loader.loaded) == 1


def test_a_model_in_use_is_never_unloaded() -> None:
    pool, loader, seen = make_pool(500)  # one fits
    answering = iter(pool.model(spec("a")).stream(ASK, 8))
    assert next(answering) == "a "  # a is checked out mid-answer
    assert ask(pool, "b") == "b says hi"  # loaded over the budget, a untouched
    assert not loader.loaded[0].closed
    # b, idle, went back at once to get under the budget again.
    assert pool.loaded() == ["a"] and loader.loaded[1].closed
    assert next(answering) == "says hi"
    assert next(answering, None) is None
    assert story(seen)[-1] == "unloaded b (budget)"


def test_no_budget_keeps_everything() -> None:
    pool, _, seen = make_pool(0)
    for name in "abcab":
        ask(pool, name)
    assert pool.loaded() == ["c", "a", "b"]
    assert not [e for e in seen if isinstance(e, ModelUnloaded)]


def test_concurrent_first_answers_load_once() -> None:
    pool, loader, _ = make_pool(700)
    loader.gate = threading.Event()
    answers: list[str] = []
    threads = [threading.Thread(target=lambda: answers.append(ask(pool, "a"))) for _ in range(4)]
    for t in threads:
        t.start()
    loader.gate.set()
    for t in threads:
        t.join(WAIT_S)
    assert answers == ["a says hi"] * 4
    assert len(loader.loaded) == 1


def test_a_loaded_model_answers_while_another_loads() -> None:
    pool, loader, _ = make_pool(1000)
    ask(pool, "a")
    loader.gate = threading.Event()
    loader.entered.clear()
    loading_b = threading.Thread(target=ask, args=(pool, "b"))
    loading_b.start()
    assert loader.entered.wait(WAIT_S)  # b is loading now
    assert ask(pool, "a") == "a says hi"  # not held up by b's load
    loader.gate.set()
    loading_b.join(WAIT_S)
    assert pool.loaded() == ["a", "b"]


def test_failed_load_leaves_the_pool_as_it_was() -> None:
    pool, loader, _ = make_pool(1000)
    loader.fail = True
    with pytest.raises(ModelError, match="cannot load a"):
        ask(pool, "a")
    assert pool.loaded() == [] and pool.used_mb == 0
    loader.fail = False
    assert ask(pool, "a") == "a says hi"


def test_get_loads_now() -> None:
    pool, loader, _ = make_pool(1000)
    model = pool.get(spec("a"), "personal")
    assert pool.loaded() == ["a"] and len(loader.loaded) == 1
    assert "".join(model.stream(ASK, 8)) == "a says hi"
    assert len(loader.loaded) == 1


def test_close_unloads_idle_now_and_busy_after_their_answer() -> None:
    pool, loader, seen = make_pool(1000)
    ask(pool, "a")
    answering = iter(pool.model(spec("b")).stream(ASK, 8))
    next(answering)
    pool.close()
    assert loader.loaded[0].closed and not loader.loaded[1].closed
    assert list(answering) == ["says hi"]
    assert loader.loaded[1].closed and pool.loaded() == []
    assert story(seen)[-2:] == ["unloaded a (close)", "unloaded b (close)"]
    with pytest.raises(ModelError, match="closed"):
        ask(pool, "a")


# --- the RAM estimate -------------------------------------------------------------------


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def write_gguf(path: Path, arch: str, layers: int, width: int, heads: int, kv_heads: int) -> None:
    """A GGUF header (no tensors) with an array of strings before the model's shape."""
    kvs = [
        _string("general.architecture") + struct.pack("<I", 8) + _string(arch),
        _string("tokenizer.ggml.tokens")
        + struct.pack("<IIQ", 9, 8, 3)
        + b"".join(_string(t) for t in ("<s>", "hi", "there")),
        _string("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, 2) + struct.pack("<ff", 0, 1),
        _string(f"{arch}.block_count") + struct.pack("<II", 4, layers),
        _string(f"{arch}.embedding_length") + struct.pack("<II", 4, width),
        _string(f"{arch}.attention.head_count") + struct.pack("<II", 4, heads),
        _string(f"{arch}.attention.head_count_kv") + struct.pack("<II", 4, kv_heads),
        _string("general.name") + struct.pack("<I", 8) + _string("tiny"),
    ]
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs)
    path.write_bytes(header + b"\0" * (8 * 1024 * 1024))


def test_estimate_reads_the_kv_cache_size_from_the_gguf_header(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    # 16 layers, 8 KV heads of 64 (width 1024 / 16 heads): 16 x 8 x 128 x 2 = 32 KiB a token
    write_gguf(path, "llama", layers=16, width=1024, heads=16, kv_heads=8)
    size = path.stat().st_size
    expected = round((1.15 * size + 32 * 1024 * 4096) / 2**20) + 32
    assert estimate_ram_mb(path, 4096) == expected
    assert estimate_ram_mb(path, 8192) > estimate_ram_mb(path, 4096)


def test_estimate_of_an_unreadable_header_errs_large(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"not a gguf" + b"\0" * 1024)
    size = path.stat().st_size
    expected = round((1.15 * size + FALLBACK_KV_BYTES_PER_TOKEN * 2048) / 2**20) + 32
    assert estimate_ram_mb(path, 2048) == expected
