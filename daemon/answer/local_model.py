"""The local answer model: a GGUF chat model in llama.cpp, streaming tokens."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from secondself.answer.prompt import build_messages
from secondself.core.errors import ModelError, Stage
from secondself.core.protocols import ChatMessage


class LlamaAnswerModel:
    """A GGUF chat model in llama.cpp, loaded once, streaming tokens.

    One generation at a time: llama.cpp contexts are not thread-safe.
    """

    def __init__(
        self,
        path: Path,
        name: str,
        threads: int = 1,
        context: int = 2048,
        temperature: float = 0.0,
    ) -> None:
        from llama_cpp import Llama

        self.name = name
        self.path = path
        self._temperature = temperature
        self._lock = threading.Lock()
        try:
            self._llm = Llama(
                model_path=str(path),
                n_ctx=context,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load answer model {path}: {exc}", Stage.ANSWER) from exc

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int) -> Iterator[str]:
        with self._lock:
            request: list[Any] = [{"role": m.role, "content": m.content} for m in messages]
            chunks: Any = self._llm.create_chat_completion(
                messages=request,
                max_tokens=max_tokens,
                temperature=self._temperature,
                stream=True,
            )
            for chunk in chunks:
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    yield piece

    def warm_up(self) -> None:
        """Evaluate the fixed instructions once, so the first question is as fast as later ones
        (the prefix stays in the KV cache)."""
        for _ in self.stream(build_messages("Hello", []), max_tokens=1):
            pass

    def close(self) -> None:
        self._llm.close()
