"""Turn a spoken correction ("No, it's Rex.") into a whole fact ("my dog is called Rex").

A bare "Rex" would be useless to search and to the model; rewritten into the memory the
answer leaned on, it is a fact the store can supersede the old one with.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from secondself.answer.prompt import Source
from secondself.answer.score import content_words
from secondself.core.errors import Stage, UserError
from secondself.memory.model import Kind, Memory, Origin, SearchFilter
from secondself.memory.validate import check_unicode

if TYPE_CHECKING:
    from secondself.memory.store import MemoryStore


def corrected_fact(correction: str, answer: str, question: str, memory_text: str) -> str:
    """The memory with the answer's wrong part replaced by the correction, else a note."""
    correction = correction.strip().rstrip(".!")
    wrong = [
        w
        for w in re.findall(r"[\w']+", answer)
        if w.lower().removesuffix("'s") in content_words(answer) - content_words(question)
        and re.search(rf"\b{re.escape(w)}\b", memory_text, re.IGNORECASE)
    ]
    if len(wrong) == 1:
        # A function, not a template: what the user said ("\g<0>", "\9") is only text.
        pattern = rf"\b{re.escape(wrong[0])}\b"
        return re.sub(pattern, lambda _: correction, memory_text, count=1, flags=re.I)
    return f"{correction} (not: {memory_text.strip().rstrip('.')})"


def check_said(said: str) -> str:
    """What the user said to correct with, stripped; a one-line error if it is empty or
    not Unicode text."""
    said = check_unicode(said, "correction").strip()
    if not said:
        raise UserError("empty-correction", "correct with what? (the text is empty)", Stage.MEMORY)
    return said


def leaned_on(sources: Sequence[Source]) -> Source:
    """The one rule for which memory a correction rewrites, by voice, CLI or page: the
    answer's source most similar to the question (the first of equals, as ranked)."""
    return max(sources, key=lambda s: s.similarity)


@dataclass(frozen=True, slots=True)
class Correction:
    memory: Memory  # the correction, saved
    corrects: int  # the memory the answer leaned on


def correct_last(store: MemoryStore, persona: str, said: str, source: Origin) -> Correction:
    """Correct the persona's last answer (`secondself correct TEXT`, the web page): the
    memory the last answered turn leaned on, rewritten with what was said, saved as its
    correction (which then outranks it)."""
    said = check_said(said)
    # The persona's own last turn (a search for it also finds other personas' shared turns).
    found = store.recent(SearchFilter(persona=persona, kinds=(Kind.CONVERSATION_TURN,)), limit=50)
    turns = [t for t in found if t.persona == persona]
    if not turns:
        raise UserError("nothing-to-correct", "there is no answer to correct yet", Stage.MEMORY)
    turn = turns[0]
    question, _, answer = turn.text.removeprefix("Q: ").partition("\nA: ")
    # Only what the persona may still see: a source made private to another persona since
    # the answer is neither copied into this correction nor retired by it.
    quoted = [store.get(i) for i in store.quotes().get(turn.id, [])]
    used = [m for m in quoted if m.visible_to(persona) and m.current]
    if not used:
        raise UserError(
            "nothing-to-correct",
            "the last answer did not come from a memory: save the fact as a new memory",
            Stage.MEMORY,
        )
    # Ranked as the answer used them, each scored against the question as recall scored it.
    vectors = store.embedder.embed([question, *(m.text for m in used)])
    similarity = vectors[1:] @ vectors[0]
    ranked = [Source(m.id, m.text, "", float(s)) for m, s in zip(used, similarity, strict=True)]
    wrong = store.get(leaned_on(ranked).memory_id)
    fact = corrected_fact(said, answer, question, wrong.text)
    memory = store.remember(
        fact, kind=Kind.CORRECTION, persona=persona, source=source, corrects=wrong.id
    )
    return Correction(memory, wrong.id)
