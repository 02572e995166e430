"""What a conversation needs from memory, over the user's store, seen by one persona."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from secondself.answer.prompt import Source
from secondself.answer.question import asked
from secondself.memory import happened as happenings
from secondself.memory.model import Kind, Origin, SearchFilter, SearchResult
from secondself.memory.spoken_dates import natural_date, spoken_time
from secondself.memory.store import MemoryStore

# Questions about the past also search facts that a newer one has replaced.
_PAST = re.compile(r"\b(was|were|used to|before|previous|previously|old|earlier|formerly)\b", re.I)
# A memory is given to the model only when it is about the question: a small model makes
# an answer out of whatever it is shown ("your cat is called Biscuit" from a dog memory).
# MiniLM puts paraphrases above 0.5 and same-topic-other-thing pairs around 0.3-0.5.
RELEVANT = 0.5  # on meaning alone
RELEVANT_WITH_WORDS = 0.3  # when the memory also shares a searched word with the question
LISTING_MAX = 100  # memories one listing answer counts ("... And 12 more.")
FORGET_SIMILARITY = 0.55  # "forget X" without a literal match forgets one close memory


# What the user told or showed us; our own past answers are kept (for the web page and so
# forgetting a memory removes the turns that quoted it) but are not evidence.
RECALLED_KINDS = tuple(k for k in Kind if k is not Kind.CONVERSATION_TURN)


@dataclass(frozen=True, slots=True)
class Recalled(Source):
    """A recalled memory with what a listing answer says of it: its kind and its time."""

    kind: Kind = Kind.NOTE
    created: float = 0.0  # unix seconds
    said_when: str = ""  # relative to the recall: "yesterday at 14:05"


def _relevant(r: SearchResult) -> bool:
    s = r.scores
    return s.similarity >= RELEVANT or (
        s.bm25_rank is not None and s.similarity >= RELEVANT_WITH_WORDS
    )


class PersonaMemory:
    def __init__(
        self, store: MemoryStore, persona: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.persona = persona
        self.clock = clock  # wall time: "yesterday" is relative to it

    def recall(self, question: str, k: int) -> list[Source]:
        """The memories that answer `question`. Time words about making a memory ("what did
        I save last week") search only that time; photo words search photos first; a
        question that names nothing else ("what did I photograph yesterday?") gets every
        memory of that time and kind, not only those close to its words."""
        if not question.strip():
            return []
        now = datetime.fromtimestamp(self.clock())
        ask = asked(question)
        span = None if ask.phrase is None else ask.phrase.range(now)
        where = SearchFilter(
            persona=self.persona,
            kinds=RECALLED_KINDS,
            include_superseded=bool(_PAST.search(question)),
            since=None if span is None else span.since,
            until=None if span is None else span.until,
        )
        results: list[SearchResult] = []
        if ask.photos:
            results = self._search(question, replace(where, kinds=(Kind.IMAGE,)), k, ask.listing)
        if not results and not (ask.photos and ask.listing):
            results = self._search(question, where, k, ask.listing)
        if not results and span is not None and not ask.listing:
            # "What did I say about the boiler yesterday?" told today: the words still find it.
            results = self._search(question, replace(where, since=None, until=None), k, False)
        return [self._source(r, now) for r in results]

    def _search(
        self, question: str, where: SearchFilter, k: int, listing: bool
    ) -> list[SearchResult]:
        if listing:
            # The filter has chosen already: every memory of that time answers it (all of
            # them, up to a bound, so "and 12 more" counts them all, not the top k).
            return self.store.search(question, where, limit=max(k, LISTING_MAX))
        return [r for r in self.store.search(question, where, limit=k) if _relevant(r)]

    @staticmethod
    def _source(r: SearchResult, now: datetime) -> Recalled:
        m, h = r.memory, r.memory.happened
        return Recalled(
            memory_id=m.id,
            text=m.text,
            when=natural_date(m.created),
            similarity=r.scores.similarity,
            happened=h,
            happened_when=happenings.said(h, now) if h and happenings.is_relative(h) else "",
            kind=m.kind,
            created=m.created,
            said_when=spoken_time(m.created, now),
        )

    def remember(
        self, text: str, origin: Origin, kind: Kind = Kind.NOTE, corrects: int | None = None
    ) -> int:
        memory = self.store.remember(
            text, kind=kind, persona=self.persona, source=origin, corrects=corrects
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

    def forget_epoch(self) -> object:
        return self.store.forget_epoch()

    def forget_matching(self, text: str) -> list[int]:
        chosen = self.store.select_for_forget(match=text, persona=self.persona)
        if not chosen:
            where = SearchFilter(persona=self.persona, include_superseded=True)
            best = self.store.search(text, where, limit=1)
            if best and best[0].scores.similarity >= FORGET_SIMILARITY:
                chosen = [best[0].memory]
        if not chosen:
            return []
        return list(self.store.forget(chosen, persona=self.persona).ids)
