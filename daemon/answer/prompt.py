"""The prompt the local answer model is given: fixed instructions, the memories, recent turns.

The fixed instructions come first and never change between turns, so llama.cpp's prefix
reuse keeps them in the KV cache: only the memories, recent turns and the question are
evaluated per turn, which is most of the time to first token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from secondself.core.protocols import ChatMessage

# Small models over-refuse when told when to refuse, so the decision "no memory answers
# this" is made from retrieval (turn.py), and the model is only told to answer.
INSTRUCTIONS = (
    "You answer the user's question using the facts the user told you earlier. "
    "Answer in one short sentence, speaking to the user as 'you'."
)


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
