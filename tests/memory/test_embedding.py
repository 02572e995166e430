"""MiniLM -> GGUF conversion and the llama.cpp embedder, checked against a numpy MiniLM."""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from secondself.core.errors import ModelError
from secondself.memory.embedding import LlamaEmbedder, load_embedder, pack
from secondself.weights.convert.minilm_gguf import convert, gguf_tensors, read_vocab
from secondself.weights.manifest import ModelStore

Floats = NDArray[np.float32]

SOURCE = "all-minilm-l6-v2-source"
SENTENCES = [
    "my dog is called Biscuit",
    "What is my dog's name?",
    "The café on Main Street opens at 7:30, doesn't it?",
    "Remember that the spare key is under the blue flower pot.",
    "quantum chromodynamics",
]


def _sources(store: ModelStore) -> list[Path]:
    return [store.path(SOURCE, i) for i in range(3)]  # safetensors, tokenizer.json, config.json


@pytest.fixture(scope="module")
def converted(model_store: ModelStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("minilm") / "minilm.f16.gguf"
    start = time.perf_counter()
    convert(_sources(model_store), [target])
    seconds = time.perf_counter() - start
    print(f"\nMiniLM -> GGUF conversion: {seconds:.2f} s")
    assert seconds < 10, f"conversion took {seconds:.1f} s (about 1 s expected)"
    return target


@pytest.fixture(scope="module")
def embedder(converted: Path) -> LlamaEmbedder:
    return LlamaEmbedder(converted, threads=1)


# --- a plain numpy MiniLM, straight from the safetensors weights ------------------------


class NumpyMiniLM:
    """BERT encoder + mean pooling + L2 norm, as sentence-transformers runs all-MiniLM-L6-v2."""

    def __init__(self, weights: Path, tokenizer: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        loaded: dict[str, NDArray[np.float32]] = load_file(str(weights))
        self.w = {k: v.astype(np.float64) for k, v in loaded.items()}
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.no_padding()
        self.heads = 12
        self.layers = 1 + max(int(k.split(".")[2]) for k in self.w if k.startswith("encoder."))

    def embed(self, text: str) -> Floats:
        ids = self.tokenizer.encode(text).ids
        x: NDArray[np.float64] = (
            self.w["embeddings.word_embeddings.weight"][ids]
            + self.w["embeddings.position_embeddings.weight"][: len(ids)]
            + self.w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        for layer in range(self.layers):
            x = self._layer(x, f"encoder.layer.{layer}.")
        pooled: NDArray[np.float64] = x.mean(axis=0)
        unit: Floats = (pooled / np.linalg.norm(pooled)).astype(np.float32)
        return unit

    def _layer(self, x: NDArray[np.float64], p: str) -> NDArray[np.float64]:
        q, k, v = (self._dense(x, f"{p}attention.self.{n}") for n in ("query", "key", "value"))
        attended = self._dense(self._attend(q, k, v), f"{p}attention.output.dense")
        x = self._norm(x + attended, f"{p}attention.output.LayerNorm")
        hidden = _gelu(self._dense(x, f"{p}intermediate.dense"))
        return self._norm(x + self._dense(hidden, f"{p}output.dense"), f"{p}output.LayerNorm")

    def _attend(
        self, q: NDArray[np.float64], k: NDArray[np.float64], v: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        tokens, width = q.shape
        size = width // self.heads
        q, k, v = (m.reshape(tokens, self.heads, size).transpose(1, 0, 2) for m in (q, k, v))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(size)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        out: NDArray[np.float64] = (scores @ v).transpose(1, 0, 2).reshape(tokens, width)
        return out

    def _dense(self, x: NDArray[np.float64], name: str) -> NDArray[np.float64]:
        out: NDArray[np.float64] = x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]
        return out

    def _norm(self, x: NDArray[np.float64], name: str) -> NDArray[np.float64]:
        centred = x - x.mean(axis=-1, keepdims=True)
        scaled = centred / np.sqrt((centred**2).mean(axis=-1, keepdims=True) + 1e-12)
        out: NDArray[np.float64] = scaled * self.w[f"{name}.weight"] + self.w[f"{name}.bias"]
        return out


_erf = np.frompyfunc(math.erf, 1, 1)


def _gelu(x: NDArray[np.float64]) -> NDArray[np.float64]:
    erf = np.asarray(_erf(x / math.sqrt(2.0)), dtype=np.float64)
    return 0.5 * x * (1.0 + erf)  # BERT's exact (erf) GELU


@pytest.fixture(scope="module")
def reference(model_store: ModelStore) -> NumpyMiniLM:
    weights, tokenizer, _ = _sources(model_store)
    return NumpyMiniLM(weights, tokenizer)


# --- end to end: the converted model in llama.cpp ---------------------------------------


@pytest.mark.e2e
def test_matches_numpy_reference(embedder: LlamaEmbedder, reference: NumpyMiniLM) -> None:
    ours = embedder.embed(SENTENCES)
    for text, row in zip(SENTENCES, ours, strict=True):
        cosine = float(row @ reference.embed(text))
        assert cosine > 0.99, f"{text!r}: cosine {cosine:.4f} with the numpy reference"


@pytest.mark.e2e
def test_related_sentences_score_higher(embedder: LlamaEmbedder) -> None:
    fact, question, unrelated = embedder.embed(
        ["my dog is called Biscuit", "what is my dog's name", "the train to Leeds leaves at nine"]
    )
    assert fact @ question > fact @ unrelated + 0.2
    assert fact @ question > question @ unrelated + 0.2


@pytest.mark.e2e
def test_rows_are_unit_float32_and_batching_changes_nothing(embedder: LlamaEmbedder) -> None:
    batched = embedder.embed(SENTENCES)
    assert batched.shape == (len(SENTENCES), embedder.dimensions) == (5, 384)
    assert batched.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    one_by_one = np.concatenate([embedder.embed([s]) for s in SENTENCES])
    assert np.min(np.sum(batched * one_by_one, axis=1)) > 0.9999


@pytest.mark.e2e
def test_sharing_out_over_threads_gives_the_same_rows_in_order(
    converted: Path, embedder: LlamaEmbedder
) -> None:
    texts = [f"{s} ({n})" for n in range(12) for s in SENTENCES] + ["word " * 600, "end"]
    shared = LlamaEmbedder(converted, threads=2, pack_tokens=64)  # many passes to share
    rows = shared.embed(texts)
    again = shared.embed(texts)  # the worker contexts are reused
    one = embedder.embed(texts)  # one thread, one context
    assert rows.shape == one.shape == (len(texts), 384)
    assert np.min(np.sum(rows * one, axis=1)) > 0.9999
    np.testing.assert_allclose(rows, again, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    single = shared.embed(["what is my dog called?"])  # a query: the all-threads context
    assert float(single[0] @ embedder.embed(["what is my dog called?"])[0]) > 0.9999


@pytest.mark.e2e
def test_a_text_longer_than_the_model_is_cut_not_refused(embedder: LlamaEmbedder) -> None:
    rows = embedder.embed(["word " * 700, "short", "again " * 300])
    assert rows.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)


@pytest.mark.e2e
def test_no_texts_gives_an_empty_matrix(embedder: LlamaEmbedder) -> None:
    empty = embedder.embed([])
    assert empty.shape == (0, 384)
    assert empty.dtype == np.float32


@pytest.mark.e2e
def test_conversion_is_deterministic(
    converted: Path, model_store: ModelStore, tmp_path: Path
) -> None:
    again = tmp_path / "again.gguf"
    convert(_sources(model_store), [again])
    assert _sha256(again) == _sha256(converted)
    assert [p.name for p in tmp_path.iterdir()] == ["again.gguf"]  # no temp file left behind


@pytest.mark.e2e
def test_loads_from_the_model_store(model_store: ModelStore) -> None:
    embedder = load_embedder(model_store)
    assert embedder.name == "all-minilm-l6-v2"
    assert embedder.embed(["hello"]).shape == (1, 384)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- unit: packing texts into forward passes -----------------------------------------------


@pytest.mark.unit
def test_pack_fills_passes_longest_first_and_keeps_every_text_once() -> None:
    counts = [5, 300, 40, 512, 200, 7, 260]
    groups = pack(counts, 512)
    order = [i for group in groups for i in group]
    assert sorted(order) == list(range(len(counts)))
    assert [counts[i] for i in order] == sorted(counts, reverse=True)
    assert all(sum(counts[i] for i in group) <= 512 for group in groups)
    assert groups == [[3], [1], [6, 4, 2, 5, 0]]
    assert pack([600, 3], 512) == [[0], [1]]  # longer than a pass: alone (llama.cpp cuts it)
    assert pack([], 512) == []


# --- unit: naming rules of the converter -------------------------------------------------


@pytest.mark.unit
def test_vocab_uses_phantom_spaces_and_keeps_special_tokens() -> None:
    tokenizer = {
        "model": {
            "type": "WordPiece",
            "unk_token": "[UNK]",
            "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "dog": 4, "##s": 5},
        },
        "added_tokens": [
            {"content": t, "special": True} for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
        ],
        "normalizer": {"type": "BertNormalizer", "lowercase": True, "strip_accents": None},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": "[CLS]"}},
                {"Sequence": {"id": "A"}},
                {"SpecialToken": {"id": "[SEP]"}},
            ],
        },
    }
    vocab = read_vocab(tokenizer, vocab_size=7)
    assert vocab.tokens == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "\u2581dog", "s", "[PAD6]"]
    assert [int(t) for t in vocab.types] == [3, 3, 3, 3, 1, 1, 5]
    assert vocab.special_ids == {"bos": 2, "eos": 3, "sep": 3, "unk": 1, "pad": 0}
    assert vocab.lowercase and vocab.strip_accents


@pytest.mark.unit
def test_tensor_names_and_types_follow_llama_cpp() -> None:
    weights = {
        "embeddings.word_embeddings.weight": np.ones((4, 2), np.float32),
        "embeddings.position_embeddings.weight": np.ones((3, 2), np.float32),
        "encoder.layer.1.intermediate.dense.weight": np.ones((8, 2), np.float32),
        "encoder.layer.0.attention.output.LayerNorm.bias": np.ones(2, np.float32),
        "pooler.dense.weight": np.ones((2, 2), np.float32),
    }
    named = {name: array.dtype for name, array in gguf_tensors(weights)}
    assert list(named) == [
        "position_embd.weight",
        "token_embd.weight",
        "blk.0.attn_output_norm.bias",
        "blk.1.ffn_up.weight",
    ]
    assert named["token_embd.weight"] == np.float16
    assert named["blk.1.ffn_up.weight"] == np.float16
    assert named["position_embd.weight"] == np.float32
    assert named["blk.0.attn_output_norm.bias"] == np.float32


@pytest.mark.unit
def test_an_unknown_tensor_is_refused() -> None:
    with pytest.raises(ModelError, match="unexpected tensor"):
        gguf_tensors({"decoder.layers.0.mlp.weight": np.ones((2, 2), np.float32)})
