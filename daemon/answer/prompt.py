"""The prompt the local answer model is given: fixed instructions, the memories, recent turns.

The fixed instructions come first and never change between turns, so llama.cpp's prefix
reuse keeps them in the KV cache: only the memories, recent turns and the question are
evaluated per turn, which is most of the time to first token.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from secondself.core.protocols import ChatMessage
from secondself.memory import happened as happenings
from secondself.memory.model import Happened

# Small models over-refuse when told when to refuse, so the decision "no memory answers
# this" is made from retrieval (turn.py), and the model is only told to answer.
INSTRUCTIONS = (
    "You answer the user's question using the facts the user told you earlier. "
    "Answer in one short sentence, speaking to the user as 'you'."
)
# Only when some fact has them: said every time, it led the default model to answer "Tell me
# about my dog" from the first fact alone.
BRACKETS = (
    "The brackets after a fact say when the user said it and which dates its time words mean."
)
# A question about time gets each fact's date; any other gets only what a fact's own time
# words mean: small models copy bracketed dates into answers about something else ("My dog
# is called Biscuit. (Said on 4 December 2026.)").
_ASKS_TIME = re.compile(
    r"\b(?:when|what (?:day|date|time|month|year)|which (?:day|date|month|year)|how long|ago|"
    r"since|until|before|after|first|last|latest|earliest|recently|yesterday|today|week|month|"
    r"year)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Source:
    """A retrieved memory as the prompt and the answer's sources see it."""

    memory_id: int
    text: str
    when: str  # the day it was said, naturally: "8 May 2023" ("" when not known)
    similarity: float
    happened: Happened | None = None  # the time its words name ("yesterday"), resolved
    # That time as of the recall: "on Sunday 7 May 2023", "last Sunday"; "" when it names no
    # time, or names its own date ("in May 2019").
    happened_when: str = ""

    @property
    def dates(self) -> str:
        """When it was said and what its time words mean: "said on 8 May 2023; yesterday =
        Sunday 7 May 2023" ("" when neither is known)."""
        return self.dated(said=True)

    def dated(self, said: bool) -> str:
        """What its time words mean, and (`said`) when it was said."""
        parts = [f"said on {self.when}"] if self.when and said else []
        if self.happened is not None and happenings.is_relative(self.happened):
            parts.append(f"{self.happened.phrase} = {happenings.name(self.happened)}")
        return "; ".join(parts)

    @property
    def evidence(self) -> str:
        """What an answer may draw on: its words and its dates."""
        return f"{self.text} ({self.dates})" if self.dates else self.text

    @property
    def retimed(self) -> str:
        """Its words with its time words said as of the recall: "I went yesterday", said on
        8 May 2023 and recalled a year later, is "I went on Sunday 7 May 2023". Only an
        answer says it so; the memory keeps its words."""
        if not self.happened_when or self.happened is None:
            return self.text
        words = [re.escape(w).replace("'", "['\u2019]") for w in self.happened.phrase.split()]
        # Not "yesterday's news": the phrase there is not a time of the sentence's own.
        phrase = re.compile(r"\b" + r"\s+".join(words) + r"\b(?!['\u2019]s\b)", re.IGNORECASE)
        return phrase.sub(lambda _: self.happened_when, self.text, count=1)


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
        said = bool(_ASKS_TIME.search(question))
        lines = [_fact(s, said) for s in sources]
        facts = "\n".join(f"- {line}" for line in lines)
        if any(line.endswith(".)") for line in lines):
            facts += f"\n{BRACKETS}"
        system += f"\n\nFacts the user told you:\n{facts}"
    messages = [ChatMessage("system", system)]
    for turn in history:
        messages.append(ChatMessage("user", turn.question))
        messages.append(ChatMessage("assistant", turn.answer))
    messages.append(ChatMessage("user", question))
    return messages


def _fact(source: Source, said: bool) -> str:
    """A memory as a sentence, its dates in brackets: "I went to a support group yesterday.
    (Said on 8 May 2023; yesterday = Sunday 7 May 2023.)"."""
    dates = source.dated(said)
    sentence = _as_sentence(source.text)
    return f"{sentence} ({dates[0].upper()}{dates[1:]}.)" if dates else sentence


def _as_sentence(text: str) -> str:
    """Memories are often lower-case fragments (transcripts); a small model reads whole
    sentences better ("my dog is called biscuit" once came back as "Biscuit's name is ...")."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."
