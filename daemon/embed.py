"""Sentence embeddings: all-MiniLM-L6-v2 as an F16 GGUF, run by llama.cpp.

The GGUF is made once at set-up (`convert/minilm_gguf.py`) and carries its own WordPiece
tokenizer and mean pooling, so a call is: tokenize, one forward pass per batch, normalise.
`Llama.embed` packs several texts into one forward pass (one sequence id each, attention
masked per sequence) until `batch_tokens` tokens are used; a text longer than that is cut.

Flash attention is on because of that packing: plain attention multiplies every token of the
batch with every other and masks afterwards, which made a 512-token batch cost 2.5 times
as much per sentence as one sentence at a time; flash attention skips the masked pairs.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from secondself.errors import ModelError, SecondselfError, Stage

if TYPE_CHECKING:
    from secondself.models import ModelStore

DEFAULT_MODEL = "all-minilm-l6-v2"
MAX_TOKENS = 512  # the size of MiniLM's position table; longer texts are cut to it


class LlamaEmbedder:
    """An `Embedder` over a BERT-family GGUF with pooling set in the file (mean for MiniLM)."""

    def __init__(
        self,
        path: Path,
        *,
        threads: int,
        name: str = DEFAULT_MODEL,
        batch_tokens: int = MAX_TOKENS,
    ) -> None:
        import llama_cpp

        try:
            self._llm = llama_cpp.Llama(
                model_path=str(path),
                embedding=True,
                n_ctx=batch_tokens,
                n_batch=batch_tokens,
                n_ubatch=batch_tokens,  # non-causal: a whole sequence must fit one ubatch
                flash_attn=True,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load embedding model {path}: {exc}", Stage.EMBED) from exc
        self.name = name
        self.dimensions: int = self._llm.n_embd()
        # One llama.cpp context is not safe to share: memory writes and searches both embed.
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One L2-normalised float32 row per text; (0, dimensions) for no texts."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._lock:
            try:
                rows = self._llm.embed(list(texts), normalize=False, truncate=True)
            except (ValueError, RuntimeError) as exc:
                message = f"embedding failed: {exc}"
                raise SecondselfError("embed-failed", message, Stage.EMBED) from exc
        return _normalised(np.asarray(rows, dtype=np.float32))


def _normalised(rows: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    # An all-zero row stays zero instead of turning into NaNs.
    unit: NDArray[np.float32] = (rows / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return unit


def load_embedder(store: ModelStore, name: str = DEFAULT_MODEL, threads: int = 1) -> LlamaEmbedder:
    """The named embedding model from the models folder (`embed.model`, `embed.threads`)."""
    return LlamaEmbedder(store.path(name), threads=threads, name=name)
