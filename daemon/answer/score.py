"""The personal score (0-100): how much an answer is the user's own, from parts each shown.

- grounding: the share of the answer's content words found in the retrieved memories
  about the people it names (`people.py`), their words and their dates, with the ids of
  the memories that support it;
- retrieval: how close the best memory is to the question;
- style: how close the answer's wording is to the user's own memories (embeddings);

and the whole is lowered when a memory the answer rests on is disputed: another recalled
memory gives the same thing another value (`conflicts.py`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from secondself.answer import people
from secondself.answer.prompt import Source
from secondself.answer.recalled import Recalled
from secondself.core.protocols import Embedder

WEIGHTS = {"grounding": 0.5, "retrieval": 0.3, "style": 0.2}
DISPUTED = 0.7  # the share of the score left when a memory it rests on is disputed
# Similarities of MiniLM below this are unrelated text; above the top, a paraphrase.
RETRIEVAL_FLOOR, RETRIEVAL_TOP = 0.2, 0.7
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# How this product declines (phrases.DONT_KNOW, hedge.py): an answer that says nothing.
_DECLINES = re.compile(r"^(?:I don't know|I'm not sure)\b")
_STOPWORDS = frozenset(
    """a an and are as at be by do does did for from has have he her his i in is it its
    me my of on or our she so that the their them they this to was were what when where
    which who will with you your yours it's that's i'm you're don't know yet""".split()
)


@dataclass(frozen=True, slots=True)
class ScoreParts:
    grounding: float  # 0..1
    retrieval: float  # 0..1
    style: float  # 0..1
    supporting_ids: tuple[int, ...]
    disputed: bool = False  # another recalled memory gives what it rests on another value

    @property
    def score(self) -> int:
        total = (
            WEIGHTS["grounding"] * self.grounding
            + WEIGHTS["retrieval"] * self.retrieval
            + WEIGHTS["style"] * self.style
        )
        return round(100 * total * (DISPUTED if self.disputed else 1.0))

    def to_dict(self) -> dict[str, object]:
        return {
            "grounding": round(self.grounding, 3),
            "retrieval": round(self.retrieval, 3),
            "style": round(self.style, 3),
            "supporting_ids": list(self.supporting_ids),
            "disputed": self.disputed,
        }


def content_words(text: str) -> set[str]:
    words = {w.removesuffix("'s") for w in _WORD.findall(text.lower())}
    return words - _STOPWORDS


def personal_score(answer: str, sources: Sequence[Source], embedder: Embedder | None) -> ScoreParts:
    if not sources or not answer.strip() or _DECLINES.match(answer.strip()):
        return ScoreParts(0.0, 0.0, 0.0, ())  # nothing of the user's was said
    said = content_words(answer)
    supported: set[str] = set()
    supporting: list[Source] = []
    who = people.named(answer, sources)
    for source in sources:
        shared = said & _evidence(source, who)
        if shared:
            supported |= shared
            supporting.append(source)
    grounding = len(supported) / len(said) if said else 0.0
    best = max(s.similarity for s in sources)
    retrieval = float(np.clip((best - RETRIEVAL_FLOOR) / (RETRIEVAL_TOP - RETRIEVAL_FLOOR), 0, 1))
    style = 0.0
    if embedder is not None:
        rows = embedder.embed([answer, *(s.text for s in sources)])
        style = float(np.clip(np.max(rows[1:] @ rows[0]), 0.0, 1.0))
    disputed = any(isinstance(s, Recalled) and s.disputed for s in supporting)
    return ScoreParts(grounding, retrieval, style, tuple(s.memory_id for s in supporting), disputed)


def novel_grounding(sentence: str, question: str, sources: Sequence[Source]) -> float:
    """The share of what a sentence adds to the question that the memories about the people
    they name contain (1.0 when it adds nothing: "Yes, I know." restates, it does not
    invent)."""
    novel = content_words(sentence) - content_words(question)
    if not novel:
        return 1.0
    # "Andrew makes jewellery" is not grounded by Audrey saying "I make jewellery".
    who = people.named(question, sources) | (
        people.named(sentence, sources) & people.speakers(sources)
    )
    known: set[str] = set()
    for source in sources:
        known |= _evidence(source, who)
    return len(novel & known) / len(novel)


def _evidence(source: Source, who: Collection[str]) -> set[str]:
    """The content words an answer may draw on from a memory: what it says of the people
    the answer names (`people.said_of`), and its dates when it says anything of them."""
    words = content_words(people.said_of(source.text, who))
    return words | content_words(source.dates) if words else words
