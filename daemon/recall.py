"""What a conversation needs from memory, over the user's store, seen by one persona."""

from __future__ import annotations

import re
import time

from secondself.answer import Source
from secondself.memory.model import Kind, SearchFilter
from secondself.memory.model import Source as Origin
from secondself.memory.store import MemoryStore

# Questions about the past also search facts that a newer one has replaced.
_PAST = re.compile(r"\b(was|were|used to|before|previous|previously|old|earlier|formerly)\b", re.I)
# A memory is given to the model only when it is about the question: a small model makes
# an answer out of whatever it is shown ("your cat is called Biscuit" from a dog memory).
# MiniLM puts paraphrases above 0.5 and same-topic-other-thing pairs around 0.3-0.5.
RELEVANT = 0.5  # on meaning alone
RELEVANT_WITH_WORDS = 0.3  # when the memory also shares a searched word with the question
FORGET_SIMILARITY = 0.55  # "forget X" without a literal match forgets one close memory


# What the user told or showed us; our own past answers are kept (for the web page and so
# forgetting a memory removes the turns that quoted it) but are not evidence.
RECALLED_KINDS = tuple(k for k in Kind if k is not Kind.CONVERSATION_TURN)


class PersonaMemory:
    def __init__(self, store: MemoryStore, persona: str) -> None:
        self.store = store
        self.persona = persona

    def recall(self, question: str, k: int) -> list[Source]:
        if not question.strip():
            return []
        where = SearchFilter(
            persona=self.persona,
            kinds=RECALLED_KINDS,
            include_superseded=bool(_PAST.search(question)),
        )
        results = self.store.search(question, where, limit=k)
        return [
            Source(
                memory_id=r.memory.id,
                text=r.memory.text,
                when=time.strftime("%Y-%m-%d", time.localtime(r.memory.created)),
                similarity=r.scores.similarity,
            )
            for r in results
            if r.scores.similarity >= RELEVANT
            or (r.scores.bm25_rank is not None and r.scores.similarity >= RELEVANT_WITH_WORDS)
        ]

    def remember(
        self, text: str, source: str, kind: str = "note", corrects: int | None = None
    ) -> int:
        memory = self.store.remember(
            text, kind=Kind(kind), persona=self.persona, source=Origin(source), corrects=corrects
        )
        return memory.id

    def remember_turn(self, question: str, answer: str, source_ids: list[int]) -> None:
        self.store.remember(
            f"Q: {question}\nA: {answer}",
            kind=Kind.CONVERSATION_TURN,
            persona=self.persona,
            source=Origin.VOICE,
            sources=source_ids,
        )

    def forget_matching(self, text: str) -> list[int]:
        chosen = self.store.select_for_forget(match=text, persona=self.persona)
        if not chosen:
            where = SearchFilter(persona=self.persona, include_superseded=True)
            best = self.store.search(text, where, limit=1)
            if best and best[0].scores.similarity >= FORGET_SIMILARITY:
                chosen = [best[0].memory]
        if not chosen:
            return []
        return list(self.store.forget(chosen).ids)
