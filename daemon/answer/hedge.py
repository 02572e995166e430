"""What to say when the memories do not answer the question: that it is not known, and,
when one short note of the user's is close to the question, that note, in one sentence."""

from __future__ import annotations

from collections.abc import Sequence

from secondself.answer import people
from secondself.answer.direct import to_second_person
from secondself.answer.phrases import DONT_KNOW
from secondself.answer.prompt import Source
from secondself.answer.recall import RELEVANT

MAX_WORDS = 20  # longer is not one thing to say back (a chat turn, a document)
_LOWER_FIRST = frozenset("you your yours".split())


def hedge(question: str, sources: Sequence[Source]) -> str:
    """A short note of the user's, close to the question and about whom it asks, said back
    ("I'm not sure, but you told me that your office is on the fifth floor."); with none,
    DONT_KNOW."""
    close = [
        s
        for s in people.about_them(sources, people.named(question, sources))
        if s.similarity >= RELEVANT and _one_short_note(s.text)
    ]
    if not close:
        return DONT_KNOW
    # Its time words said as of now ("yesterday" a year on is a date).
    said = to_second_person(max(close, key=lambda s: s.similarity).retimed)
    if said.split(" ", 1)[0].lower() in _LOWER_FIRST:
        said = said[0].lower() + said[1:]  # not a name: it goes on the sentence
    return f"I'm not sure, but you told me that {said}"


def _one_short_note(text: str) -> bool:
    """The user's own words, one sentence of a few words: not a chat turn or a document."""
    body = text.strip().rstrip(".!")
    if people.speaker(text) is not None or "\n" in body or len(body.split()) > MAX_WORDS:
        return False
    return not any(mark in body for mark in (". ", "! ", "? ", "?"))
