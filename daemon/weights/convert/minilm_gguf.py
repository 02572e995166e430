"""all-MiniLM-L6-v2 as shipped (safetensors + tokenizer.json + config.json) -> F16 BERT GGUF.

llama.cpp runs the result with `embedding=True` and mean pooling. Names and metadata follow
llama.cpp's own converter (`convert_hf_to_gguf.py`, class BertModel, and gguf-py's
`SpecialVocab`), written here with numpy alone so set-up needs neither torch nor
transformers:

- 2-D weights become F16; biases, norms, position and token-type embeddings stay F32;
- the WordPiece vocabulary gets llama.cpp's "phantom space" form: a word start is
  "\u2581word", a continuation "##ing" becomes "ing", special tokens stay as they are.

Inputs: [model.safetensors, tokenizer.json, config.json]; outputs: [the .gguf to write].
The output is byte-for-byte the same for the same inputs.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np
from numpy.typing import NDArray

from secondself.core.errors import ModelError, Stage

ARCH = "bert"
MODEL_NAME = "all-MiniLM-L6-v2"
PHANTOM_SPACE = "\u2581"  # llama.cpp's WPM tokenizer marks word starts with it
TOKENIZER_PRE = "bert-bge"  # what llama.cpp's converter derives for this (uncased BERT) vocab

# sentence-transformers' Pooling module for this model takes the mean over tokens.
POOLING = gguf.PoolingType.MEAN

# Not in the gguf package 0.19, read by llama.cpp since its BertNormalizer support.
KEY_LOWERCASE = "tokenizer.ggml.normalizer.lowercase"
KEY_STRIP_ACCENTS = "tokenizer.ggml.normalizer.strip_accents"

# HF name -> GGUF name. The pooler head is unused for embeddings; position_ids is a buffer.
_GLOBAL_NAMES = {
    "embeddings.word_embeddings.weight": "token_embd.weight",
    "embeddings.token_type_embeddings.weight": "token_types.weight",
    "embeddings.position_embeddings.weight": "position_embd.weight",
    "embeddings.LayerNorm.weight": "token_embd_norm.weight",
    "embeddings.LayerNorm.bias": "token_embd_norm.bias",
}
_LAYER_PARTS = {
    "attention.self.query": "attn_q",
    "attention.self.key": "attn_k",
    "attention.self.value": "attn_v",
    "attention.output.dense": "attn_output",
    "attention.output.LayerNorm": "attn_output_norm",
    "intermediate.dense": "ffn_up",
    "output.dense": "ffn_down",
    "output.LayerNorm": "layer_output_norm",
}
_SKIPPED = {"embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"}
_LAYER_RE = re.compile(r"encoder\.layer\.(\d+)\.(.+)\.(weight|bias)")
# llama.cpp keeps these in F32 even in an F16 file (see its converter's tensor type rules).
_F32_2D = {"position_embd.weight", "token_types.weight"}


@dataclass(frozen=True, slots=True)
class Vocab:
    tokens: list[str]
    types: list[gguf.TokenType]
    special_ids: dict[str, int]  # bos/eos/unk/sep/pad/mask -> id
    lowercase: bool
    strip_accents: bool


def convert(inputs: list[Path], outputs: list[Path]) -> None:
    if len(inputs) != 3 or len(outputs) != 1:
        raise ModelError(
            "minilm-gguf takes [model.safetensors, tokenizer.json, config.json] -> [.gguf]",
            Stage.SETUP,
        )
    for path in inputs:
        if not path.is_file():
            raise ModelError(f"minilm-gguf: input {path} is missing", Stage.SETUP)
    weights_path, tokenizer_path, config_path = inputs
    config = _read_json(config_path)
    vocab = read_vocab(_read_json(tokenizer_path), int(config["vocab_size"]))
    tensors = gguf_tensors(_load_safetensors(weights_path))
    _write_atomically(outputs[0], config, vocab, tensors)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"minilm-gguf: cannot read {path}: {exc}", Stage.SETUP) from exc
    return data


def _load_safetensors(path: Path) -> dict[str, NDArray[Any]]:
    from safetensors.numpy import load_file

    loaded: dict[str, NDArray[Any]] = load_file(str(path))
    return loaded


def read_vocab(tokenizer: dict[str, Any], vocab_size: int) -> Vocab:
    """The token list, token types and special ids, the way llama.cpp's converter writes them."""
    model = tokenizer["model"]
    if model.get("type") != "WordPiece":
        kind = model.get("type")
        raise ModelError(f"minilm-gguf: expected a WordPiece tokenizer, got {kind}", Stage.SETUP)
    by_id = {int(i): token for token, i in model["vocab"].items()}
    special = {t["content"] for t in tokenizer.get("added_tokens", []) if t.get("special")}
    tokens: list[str] = []
    types: list[gguf.TokenType] = []
    for i in range(vocab_size):
        token = by_id.get(i)
        if token is None:  # a hole in the ids: llama.cpp's converter fills it the same way
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif token in special:
            tokens.append(token)
            types.append(gguf.TokenType.CONTROL)
        else:
            tokens.append(token[2:] if token.startswith("##") else PHANTOM_SPACE + token)
            types.append(gguf.TokenType.NORMAL)
    normalizer = tokenizer.get("normalizer") or {}
    lowercase = bool(normalizer.get("lowercase", True))
    strip_accents = normalizer.get("strip_accents")  # None: follows lowercase, as in HF
    return Vocab(
        tokens=tokens,
        types=types,
        special_ids=_special_ids(tokenizer, model["vocab"]),
        lowercase=lowercase,
        strip_accents=lowercase if strip_accents is None else bool(strip_accents),
    )


def _special_ids(tokenizer: dict[str, Any], ids: dict[str, int]) -> dict[str, int]:
    """[CLS] text [SEP]: llama.cpp takes BOS as the classifier token and EOS/SEP as the end."""
    single = (tokenizer.get("post_processor") or {}).get("single", [])
    first = single[0].get("SpecialToken", {}).get("id", "[CLS]") if single else "[CLS]"
    last = single[-1].get("SpecialToken", {}).get("id", "[SEP]") if single else "[SEP]"
    pad = (tokenizer.get("padding") or {}).get("pad_token", "[PAD]")
    names = {
        "bos": first,
        "eos": last,
        "sep": last,
        "unk": tokenizer["model"].get("unk_token", "[UNK]"),
        "pad": pad,
        "mask": "[MASK]",
    }
    return {kind: ids[name] for kind, name in names.items() if name in ids}


def gguf_tensors(weights: dict[str, NDArray[Any]]) -> list[tuple[str, NDArray[Any]]]:
    """(GGUF name, array in its stored dtype), in a fixed order: globals, then layer by layer."""
    named: list[tuple[tuple[int, str], str, NDArray[Any]]] = []
    for hf_name, array in weights.items():
        if hf_name in _SKIPPED:
            continue
        name, layer = _gguf_name(hf_name)
        named.append(((layer, name), name, _stored(name, array)))
    named.sort(key=lambda item: item[0])
    return [(name, array) for _, name, array in named]


def _gguf_name(hf_name: str) -> tuple[str, int]:
    """The GGUF name and its layer (-1 for the embeddings); unknown names are an error."""
    if hf_name in _GLOBAL_NAMES:
        return _GLOBAL_NAMES[hf_name], -1
    match = _LAYER_RE.fullmatch(hf_name)
    if match and match.group(2) in _LAYER_PARTS:
        layer = int(match.group(1))
        return f"blk.{layer}.{_LAYER_PARTS[match.group(2)]}.{match.group(3)}", layer
    message = f"minilm-gguf: unexpected tensor '{hf_name}' (not a BERT model?)"
    raise ModelError(message, Stage.SETUP)


def _stored(name: str, array: NDArray[Any]) -> NDArray[Any]:
    # ggml's CPU kernels want norms, biases and additive embeddings in F32.
    if array.ndim >= 2 and name not in _F32_2D and not name.endswith("_norm.weight"):
        return np.ascontiguousarray(array, dtype=np.float16)
    return np.ascontiguousarray(array, dtype=np.float32)


def _write_atomically(
    target: Path, config: dict[str, Any], vocab: Vocab, tensors: list[tuple[str, NDArray[Any]]]
) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Same folder, so os.replace is atomic; not mkstemp, whose file would be private (0600).
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        _write(tmp, config, vocab, tensors)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _write(
    path: Path, config: dict[str, Any], vocab: Vocab, tensors: list[tuple[str, NDArray[Any]]]
) -> None:
    writer = gguf.GGUFWriter(path, arch=ARCH)
    _add_model_metadata(writer, config)
    _add_vocab(writer, vocab, int(config.get("type_vocab_size", 1)))
    for name, array in tensors:
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _add_model_metadata(writer: gguf.GGUFWriter, config: dict[str, Any]) -> None:
    writer.add_name(MODEL_NAME)
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(int(config["num_attention_heads"]))
    writer.add_layer_norm_eps(float(config["layer_norm_eps"]))
    writer.add_causal_attention(False)
    writer.add_pooling_type(POOLING)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _add_vocab(writer: gguf.GGUFWriter, vocab: Vocab, token_type_count: int) -> None:
    writer.add_token_type_count(token_type_count)
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre(TOKENIZER_PRE)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    for kind, token_id in vocab.special_ids.items():
        getattr(writer, f"add_{kind}_token_id")(token_id)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(True)
    writer.add_bool(KEY_LOWERCASE, vocab.lowercase)
    writer.add_bool(KEY_STRIP_ACCENTS, vocab.strip_accents)
