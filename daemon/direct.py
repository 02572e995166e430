"""Answers said straight from one memory, in the user's own words, with no model at all.

When one memory clearly answers the question ("What is my dog's name?" -> "my dog is
called Biscuit"), the fastest and most faithful answer is that memory, turned to face the
user: "Your dog is called Biscuit." The model is for everything else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from secondself.answer import Source
from secondself.score import content_words

DIRECT_SIMILARITY = 0.6  # MiniLM: the memory is a close paraphrase of the question
MARGIN = 0.1  # ... and clearly closer than any other memory

# First person (the user's memory) to second person (spoken to the user).
_SWAPS = [
    (r"\bI am\b", "you are"),
    (r"\bI'm\b", "you're"),
    (r"\bI was\b", "you were"),
    (r"\bI've\b", "you've"),
    (r"\bI'll\b", "you'll"),
    (r"\bI'd\b", "you'd"),
    (r"\bI\b", "you"),
    (r"\bme\b", "you"),
    (r"\bmy\b", "your"),
    (r"\bmine\b", "yours"),
    (r"\bmyself\b", "yourself"),
    (r"\bwe\b", "you"),
    (r"\bour\b", "your"),
]


def to_second_person(text: str) -> str:
    out = text.strip()
    for pattern, replacement in _SWAPS:
        out = re.sub(pattern, replacement, out, flags=re.IGNORECASE)
    out = out[0].upper() + out[1:] if out else out
    return out if out.endswith((".", "!", "?")) else out + "."


# Words a question uses without naming what it is about.
_GENERIC = frozenset(
    """name called call named anything something everything day date time again tell know
    put keep kept leave left store stored""".split()
)


def direct_answer(
    question: str, sources: Sequence[Source], threshold: float = DIRECT_SIMILARITY
) -> Source | None:
    """The one memory that answers the question by itself, if there is one.

    Close in meaning is not enough ("my sister's birthday" is close to "Mum's birthday"):
    everything the question is about must also be named in the memory.
    """
    if not sources or threshold <= 0:
        return None
    ranked = sorted(sources, key=lambda s: s.similarity, reverse=True)
    best = ranked[0]
    if best.similarity < threshold:
        return None
    if len(ranked) > 1 and best.similarity - ranked[1].similarity < MARGIN:
        return None
    about = content_words(question) - _GENERIC
    if not about <= content_words(best.text):
        return None
    return best
