"""The model pool with two real GGUF models (SmolLM2-135M and Qwen2.5-0.5B) and a RAM budget
that holds only one: each persona's question swaps the models, and each answers right."""

from __future__ import annotations

from pathlib import Path

import pytest

from secondself.answer.pool import ModelPool, estimate_ram_mb, spec_for
from secondself.core.bus import Bus
from secondself.core.config import load_config
from secondself.core.errors import ModelError
from secondself.core.events import Event, ModelLoaded, ModelLoading, ModelUnloaded
from secondself.core.protocols import ChatMessage
from secondself.weights.manifest import ModelStore

pytestmark = pytest.mark.e2e

SMALL, QWEN = "smollm2-135m-instruct", "qwen2.5-0.5b-instruct"
# Both answer it with a 4 at temperature 0 (checked: "2 + 2 = 4" and "4").
ASK = [ChatMessage("user", "What is 2+2? Answer with a number.")]


def test_estimates_match_the_measured_sizes(model_store: ModelStore) -> None:
    # Measured RSS after loading and answering at context 2048: 164 MB and 578 MB.
    assert estimate_ram_mb(model_store.path(SMALL), 2048) == 185
    assert estimate_ram_mb(model_store.path(QWEN), 2048) == 595


def test_budget_for_one_model_swaps_them_per_persona(model_store: ModelStore) -> None:
    config = load_config(None, environ={}, system_files=[])
    small, qwen = spec_for(model_store, config, SMALL), spec_for(model_store, config, QWEN)
    assert (small.threads, small.context) == (1, 2048)
    bus = Bus()
    seen: list[Event] = []
    bus.on(seen.append)
    pool = ModelPool(600, bus)  # 185 + 595 MB: either fits, not both
    personas = {"personal": pool.model(small, "personal"), "work": pool.model(qwen, "work")}
    answers = []
    try:
        for persona in ("personal", "work", "personal"):
            model = personas[persona]
            answers.append((model.name, "".join(model.stream(ASK, 16))))
            assert pool.loaded() == [model.name]
    finally:
        pool.close()
    assert [name for name, _ in answers] == [SMALL, QWEN, SMALL]
    assert all("4" in text for _, text in answers), answers

    swaps = []
    for e in seen:
        if isinstance(e, ModelLoading):
            swaps.append(f"loading {e.model} for {e.persona}")
        elif isinstance(e, ModelLoaded):
            swaps.append(f"loaded {e.model}")
            assert e.role == "llm" and e.seconds > 0
        elif isinstance(e, ModelUnloaded):
            swaps.append(f"unloaded {e.model} ({e.reason})")
            assert e.seconds >= 0
    assert swaps == [
        f"loading {SMALL} for personal",
        f"loaded {SMALL}",
        f"loading {QWEN} for work",
        f"unloaded {SMALL} (budget)",
        f"loaded {QWEN}",
        f"loading {SMALL} for personal",
        f"unloaded {QWEN} (budget)",
        f"loaded {SMALL}",
        f"unloaded {SMALL} (close)",
    ]


def test_a_gguf_path_works_and_a_wrong_name_is_clear(
    model_store: ModelStore, tmp_path: Path
) -> None:
    config = load_config(None, environ={}, system_files=[])
    path = model_store.path(SMALL)
    assert spec_for(model_store, config, str(path)).path == path
    assert spec_for(model_store, config).name == config.llm.model
    with pytest.raises(ModelError, match="neither a known model nor a file"):
        spec_for(model_store, config, str(tmp_path / "nope.gguf"))
