"""The local answer model (llama.cpp) and the prompt it is given.

The fixed instructions come first and never change between turns, so llama.cpp's prefix
reuse keeps them in the KV cache: only the memories, recent turns and the question are
evaluated per turn, which is most of the time to first token.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secondself.core.errors import ModelError, Stage
from secondself.core.protocols import ChatMessage

# Small models over-refuse when told when to refuse, so the decision "no memory answers
# this" is made from retrieval (conversation.py), and the model is only told to answer.
INSTRUCTIONS = (
    "You answer the user's question using the facts the user told you earlier. "
    "Answer in one short sentence, speaking to the user as 'you'."
)
DONT_KNOW = "I don't know that yet."


@dataclass(frozen=True, slots=True)
class Source:
    """A retrieved memory as the prompt and the answer's sources see it."""

    memory_id: int
    text: str
    when: str  # a short date, e.g. "2026-11-25"
    similarity: float


@dataclass(frozen=True, slots=True)
class Turn:
    question: str
    answer: str


def build_messages(
    question: str,
    sources: Sequence[Source],
    history: Sequence[Turn] = (),
    directives: str = "",
) -> list[ChatMessage]:
    """The fixed instructions first (kept in the KV cache), then the facts, earlier turns
    and the question."""
    system = INSTRUCTIONS + (f" {directives.strip()}" if directives.strip() else "")
    if sources:
        facts = "\n".join(f"- {_as_sentence(s.text)}" for s in sources)
        system += f"\n\nFacts the user told you:\n{facts}"
    messages = [ChatMessage("system", system)]
    for turn in history:
        messages.append(ChatMessage("user", turn.question))
        messages.append(ChatMessage("assistant", turn.answer))
    messages.append(ChatMessage("user", question))
    return messages


def _as_sentence(text: str) -> str:
    """Memories are often lower-case fragments (transcripts); a small model reads whole
    sentences better ("my dog is called biscuit" once came back as "Biscuit's name is ...")."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


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
