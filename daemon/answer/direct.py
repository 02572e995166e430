"""Answers said straight from memory, in the user's own words, with no model at all.

When one memory clearly answers the question ("What is my dog's name?" -> "my dog is
called Biscuit"), the fastest and most faithful answer is that memory, turned to face the
user: "Your dog is called Biscuit." A question that only names a time or photos ("What did
I photograph yesterday?") is answered with those memories and their times: "Yesterday at
14:05 you photographed: your red bicycle." The model is for everything else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from secondself.answer.prompt import Source
from secondself.answer.question import asked
from secondself.answer.recall import LISTING_MAX, Recalled
from secondself.answer.score import content_words
from secondself.memory.model import Kind
from secondself.memory.photos import photo_parts

LISTED = 3  # memories said in one listing answer (the newest)

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


_DID = {Kind.VOICE_NOTE: "recorded", Kind.DOCUMENT_CHUNK: "saved"}  # others: "told me"
# Words that start a sentence with a capital but go on one after a colon in lower case.
_LOWER_AFTER_COLON = frozenset("you your yours a an the this that these those some".split())


def _clause(text: str) -> str:
    """A memory, facing the user, to follow a colon ("... you photographed: your bike.")."""
    said = to_second_person(text)
    first = said.split(" ", 1)[0].lower()
    return said[:1].lower() + said[1:] if first in _LOWER_AFTER_COLON else said


def _listed(memory: Recalled) -> str:
    when = memory.said_when[:1].upper() + memory.said_when[1:]
    if memory.kind is not Kind.IMAGE:
        return f"{when} you {_DID.get(memory.kind, 'told me')}: {_clause(memory.retimed)}"
    parts = photo_parts(memory.text)
    what = memory.text if parts is None else parts.caption or parts.seen
    if not what:
        return f"{when} you took a photograph, with no caption."
    return f"{when} you photographed: {_clause(what)}"


def listing_answer(question: str, sources: Sequence[Source]) -> str | None:
    """For a question that names only a time or photos, its memories, each with its time;
    for another question about photos that only photos answer, those photos. None for any
    other question: the other answers apply."""
    ask = asked(question)
    dated = [s for s in sources if isinstance(s, Recalled)]
    if len(dated) < len(sources):
        return None  # no times to say
    only_photos = ask.photos and bool(dated) and all(s.kind is Kind.IMAGE for s in dated)
    if not (ask.listing or only_photos):
        return None
    if not dated:
        what = "no photographs" if ask.photos else "nothing"
        return f"I have {what} from {ask.phrase.name}." if ask.phrase else f"I have {what} yet."
    newest = sorted(dated, key=lambda s: s.created)[-LISTED:]
    said = " ".join(_listed(s) for s in newest)
    more = len(dated) - len(newest)
    if not more:
        return said
    # The recall stops counting at LISTING_MAX: past it, the count is a floor.
    return (
        f"{said} And at least {more} more."
        if len(dated) >= LISTING_MAX
        else f"{said} And {more} more."
    )
