"""Sentence embeddings: all-MiniLM-L6-v2 as ONNX (fp32 or int8), run by ONNX Runtime.

The same model and interface as `embed.LlamaEmbedder`, from the files that
`convert/minilm_onnx.py` writes: the graph does the encoder and mean pooling, this module
tokenizes (the `tokenizers` library, from the model's own tokenizer.json) and normalises.

Texts are sorted by token count and cut into batches of similar length, so a batch pads
little; each batch is one `run` with intra-op threads, which split every matrix product.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from secondself.core.errors import ModelError, SecondselfError, Stage

# The same model name as embed.py's (stored vectors stay valid) and the same 512-token cut.
from secondself.memory.embedding import DEFAULT_MODEL, MAX_TOKENS

# Rows and padded tokens per `run`. Past ~32 rows the matrix products are as efficient as
# they get; the token cap keeps a batch of long paragraphs' attention scores small.
BATCH_ROWS = 64
BATCH_TOKENS = 4096


class OnnxEmbedder:
    """An `Embedder` over the MiniLM ONNX graph (input_ids, attention_mask -> embedding)."""

    def __init__(
        self,
        model: Path,
        tokenizer: Path,
        *,
        threads: int,
        name: str = DEFAULT_MODEL,
        batch_rows: int = BATCH_ROWS,
        batch_tokens: int = BATCH_TOKENS,
    ) -> None:
        self._session = _session(model, threads)
        self._tokenizer = _tokenizer(tokenizer)
        self._batch_rows = batch_rows
        self._batch_tokens = batch_tokens
        self.name = name
        self.threads = threads
        self.dimensions: int = _dimensions(self._session)
        # Runs are serialised: memory writes and searches both embed, and two runs at once
        # would share the same intra-op threads (no faster, and each call slower).
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One L2-normalised float32 row per text; (0, dimensions) for no texts."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._lock:
            try:
                rows = self._embed(list(texts))
            except Exception as exc:  # onnxruntime and tokenizers raise their own types
                message = f"embedding failed: {exc}"
                raise SecondselfError("embed-failed", message, Stage.EMBED) from exc
        return _normalised(rows)

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text as the model sees them ([CLS] and [SEP] included, cut at 512)."""
        return [list(e.ids) for e in self._tokenizer.encode_batch(list(texts))]

    def _embed(self, texts: list[str]) -> NDArray[np.float32]:
        ids = self.token_ids(texts)
        lengths = np.array([len(row) for row in ids], dtype=np.int64)
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        for batch in batches(lengths, self._batch_rows, self._batch_tokens):
            input_ids, mask = _padded([ids[i] for i in batch], int(lengths[batch[0]]))
            feed = {"input_ids": input_ids, "attention_mask": mask}
            out[batch] = self._session.run(["embedding"], feed)[0]
        return out


def batches(lengths: NDArray[np.int64], rows: int, tokens: int) -> list[list[int]]:
    """Indices, longest first, in runs of at most `rows` texts and `tokens` padded tokens.

    The first index of a batch is its longest text, so it sets the padded length.
    """
    order = np.argsort(-lengths, kind="stable").tolist()
    out: list[list[int]] = []
    for i in order:
        if out and len(out[-1]) < rows and (len(out[-1]) + 1) * lengths[out[-1][0]] <= tokens:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def _padded(ids: list[list[int]], length: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    input_ids = np.zeros((len(ids), length), dtype=np.int64)  # 0 is [PAD]; masked out anyway
    mask = np.zeros((len(ids), length), dtype=np.int64)
    for row, tokens in enumerate(ids):
        input_ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
    return input_ids, mask


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort  # deferred: no model runtime at import time

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Idle threads sleep instead of spinning: the cores are shared with the answer model.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"cannot load embedding model {path}: {exc}", Stage.EMBED) from exc


def _tokenizer(path: Path) -> Any:
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception for a bad file
        raise ModelError(f"cannot load tokenizer {path}: {exc}", Stage.EMBED) from exc
    tokenizer.no_padding()  # batches are padded here, to their own longest text
    tokenizer.enable_truncation(MAX_TOKENS)
    return tokenizer


def _dimensions(session: Any) -> int:
    width = session.get_outputs()[0].shape[-1]
    if not isinstance(width, int):
        raise ModelError(f"embedding model output has no fixed width: {width}", Stage.EMBED)
    return width


def _normalised(rows: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    # An all-zero row stays zero instead of turning into NaNs.
    unit: NDArray[np.float32] = (rows / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return unit
