"""The personal score (0-100): how much an answer is the user's own, from parts each shown.

- grounding: the share of the answer's content words found in the retrieved memories (their
  words and their dates), with the ids of the memories that support it;
- retrieval: how close the best memory is to the question;
- style: how close the answer's wording is to the user's own memories (embeddings).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from secondself.answer.prompt import Source
from secondself.core.protocols import Embedder

WEIGHTS = {"grounding": 0.5, "retrieval": 0.3, "style": 0.2}
# Similarities of MiniLM below this are unrelated text; above the top, a paraphrase.
RETRIEVAL_FLOOR, RETRIEVAL_TOP = 0.2, 0.7
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
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

    @property
    def score(self) -> int:
        total = (
            WEIGHTS["grounding"] * self.grounding
            + WEIGHTS["retrieval"] * self.retrieval
            + WEIGHTS["style"] * self.style
        )
        return round(100 * total)

    def to_dict(self) -> dict[str, object]:
        return {
            "grounding": round(self.grounding, 3),
            "retrieval": round(self.retrieval, 3),
            "style": round(self.style, 3),
            "supporting_ids": list(self.supporting_ids),
        }


def content_words(text: str) -> set[str]:
    words = {w.removesuffix("'s") for w in _WORD.findall(text.lower())}
    return words - _STOPWORDS


def personal_score(answer: str, sources: Sequence[Source], embedder: Embedder | None) -> ScoreParts:
    if not sources or not answer.strip():
        return ScoreParts(0.0, 0.0, 0.0, ())
    said = content_words(answer)
    supported: set[str] = set()
    supporting: list[int] = []
    for source in sources:
        shared = said & content_words(source.evidence)  # its dates too
        if shared:
            supported |= shared
            supporting.append(source.memory_id)
    grounding = len(supported) / len(said) if said else 0.0
    best = max(s.similarity for s in sources)
    retrieval = float(np.clip((best - RETRIEVAL_FLOOR) / (RETRIEVAL_TOP - RETRIEVAL_FLOOR), 0, 1))
    style = 0.0
    if embedder is not None:
        rows = embedder.embed([answer, *(s.text for s in sources)])
        style = float(np.clip(np.max(rows[1:] @ rows[0]), 0.0, 1.0))
    return ScoreParts(grounding, retrieval, style, tuple(supporting))


def novel_grounding(sentence: str, question: str, sources: Sequence[Source]) -> float:
    """The share of what a sentence adds to the question that the memories contain (1.0 when
    it adds nothing: "Yes, I know." restates, it does not invent)."""
    novel = content_words(sentence) - content_words(question)
    if not novel:
        return 1.0
    known: set[str] = set()
    for source in sources:
        known |= content_words(source.evidence)
    return len(novel & known) / len(novel)


def hedge(sources: Sequence[Source]) -> str:
    """What to say instead of an answer the memories do not support."""
    if not sources:
        return "I don't know that yet."
    best = max(sources, key=lambda s: s.similarity)
    return f"I'm not sure. What I know is: {best.retimed.rstrip('.')}."
