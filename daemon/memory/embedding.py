"""Sentence embeddings: all-MiniLM-L6-v2 as an F16 GGUF, run by llama.cpp.

The GGUF is made once at set-up (`convert/minilm_gguf.py`) and carries its own WordPiece
tokenizer and mean pooling, so a call is: tokenize, one forward pass per batch, normalise.
`Llama.embed` packs several texts into one forward pass (one sequence id each, attention
masked per sequence) until `batch_tokens` tokens are used; a text longer than that is cut.

Flash attention is on because of that packing: plain attention multiplies every token of the
batch with every other and masks afterwards, which made a 512-token batch cost 2.5 times
as much per sentence as one sentence at a time; flash attention skips the masked pairs.

With more than one thread, a call big enough for several forward passes (an import) is
shared out by passes, not by rows of each matrix: every thread has a one-thread context of
its own and takes packed groups of texts, longest first, from a common list. ggml's threads
inside one context meet at a barrier after each of the ~100 operations of a pass, so there
every pass waits for the slowest core, and a core busy with another process stalls them
all (MODELS.md); separate contexts meet once, at the end of the call. Small calls (a query)
still use the one context with every thread, which is quicker for a single sentence.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from secondself.core.errors import ModelError, SecondselfError, Stage

if TYPE_CHECKING:
    import llama_cpp

    from secondself.weights.manifest import ModelStore

DEFAULT_MODEL = "all-minilm-l6-v2"
MAX_TOKENS = 512  # the size of MiniLM's position table; longer texts are cut to it
# Tokens per forward pass when sharing out: 1.15-1.25x the one-context speed on 2 cores at
# 128-256, less at 512 (a 64-note batch then makes too few passes to share evenly).
PACK_TOKENS = 256


class LlamaEmbedder:
    """An `Embedder` over a BERT-family GGUF with pooling set in the file (mean for MiniLM)."""

    def __init__(
        self,
        path: Path,
        *,
        threads: int,
        name: str = DEFAULT_MODEL,
        batch_tokens: int = MAX_TOKENS,
        pack_tokens: int = PACK_TOKENS,
        share_out: bool = True,
    ) -> None:
        """`share_out=False`: every call runs on the one context with every thread (the
        way before sharing out; benchmarks compare the two)."""
        self._path = path
        self._batch_tokens = batch_tokens
        self._pack_tokens = min(pack_tokens, batch_tokens)
        self._share_out = share_out and threads > 1
        self._llm = _load(path, threads, batch_tokens)
        self.name = name
        self.threads = threads
        self.dimensions: int = self._llm.n_embd()
        # One llama.cpp context is not safe to share: memory writes and searches both embed.
        # The lock also covers the worker contexts, which only run inside a locked call.
        self._lock = threading.Lock()
        self._workers: list[llama_cpp.Llama] = []  # made on the first call that needs them
        self._pool: ThreadPoolExecutor | None = None

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One L2-normalised float32 row per text; (0, dimensions) for no texts."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._lock:
            try:
                rows = self._embed(list(texts))
            except (ValueError, RuntimeError) as exc:
                message = f"embedding failed: {exc}"
                raise SecondselfError("embed-failed", message, Stage.EMBED) from exc
        return _normalised(rows)

    def _embed(self, texts: list[str]) -> NDArray[np.float32]:
        if self._share_out:
            groups = pack(self.token_counts(texts), self._pack_tokens)
            if len(groups) > 1:
                return self._embed_shared_out(texts, groups)
        return np.asarray(self._llm.embed(texts, normalize=False, truncate=True), np.float32)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text as the model sees it ([CLS] and [SEP] included, long ones cut)."""
        limit = self._batch_tokens
        return [min(len(self._llm.tokenize(t.encode("utf-8"))), limit) for t in texts]

    def _embed_shared_out(self, texts: list[str], groups: list[list[int]]) -> NDArray[np.float32]:
        if not self._workers:
            self._workers = [_load(self._path, 1, self._batch_tokens) for _ in range(self.threads)]
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="embed")
        assert self._pool is not None
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        todo = deque(groups)  # popleft is atomic: the workers share it without a lock

        def work(llm: llama_cpp.Llama) -> None:
            while todo:
                try:
                    group = todo.popleft()
                except IndexError:
                    return
                rows = llm.embed([texts[i] for i in group], normalize=False, truncate=True)
                out[group] = np.asarray(rows, dtype=np.float32)

        futures = [self._pool.submit(work, llm) for llm in self._workers]
        wait(futures)  # every context idle again before an error is raised
        for future in futures:
            future.result()
        return out


def pack(token_counts: Sequence[int], limit: int) -> list[list[int]]:
    """Indices grouped into forward passes of at most `limit` tokens, longest texts first.

    Sorted by length so the passes fill evenly, the longest first so the last pass a worker
    picks up is a short one (the workers finish together).
    """
    order = sorted(range(len(token_counts)), key=lambda i: -token_counts[i])
    groups: list[list[int]] = []
    used = 0
    for i in order:
        if not groups or used + token_counts[i] > limit:
            groups.append([])
            used = 0
        groups[-1].append(i)
        used += token_counts[i]
    return groups


def _load(path: Path, threads: int, batch_tokens: int) -> llama_cpp.Llama:
    import llama_cpp

    try:
        return llama_cpp.Llama(
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


def _normalised(rows: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    # An all-zero row stays zero instead of turning into NaNs.
    unit: NDArray[np.float32] = (rows / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return unit


def load_embedder(store: ModelStore, name: str = DEFAULT_MODEL, threads: int = 1) -> LlamaEmbedder:
    """The named embedding model from the models folder (`embed.model`, `embed.threads`)."""
    return LlamaEmbedder(store.path(name), threads=threads, name=name)
