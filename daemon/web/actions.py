"""What the page changes in a user's memory, with the CLI's rules (blocking: run in threads).

A persona sees its own memories and the shared ones; to it, another persona's private
memory does not exist. Forgetting goes through the store's one full purge (rows, vectors,
text index, media, the turns that quoted it, WAL), as `secondself forget ID` does.
"""

from __future__ import annotations

from dataclasses import dataclass

from secondself.correction import corrected_fact
from secondself.errors import Stage, UserError
from secondself.memory.model import ForgetReport, Kind, Memory, SearchFilter, Source, Visibility
from secondself.memory.store import MemoryStore


def visible(memory: Memory, persona: str) -> bool:
    return memory.persona == persona or memory.visibility is Visibility.SHARED


def unknown(memory_id: int) -> UserError:
    return UserError("memory-unknown-id", f"no memory with id {memory_id}", Stage.MEMORY)


def get_visible(store: MemoryStore, memory_id: int, persona: str) -> Memory:
    memory = store.get(memory_id)
    if not visible(memory, persona):
        raise unknown(memory_id)
    return memory


def forget(store: MemoryStore, memory_id: int, persona: str) -> ForgetReport:
    (memory,) = store.select_for_forget(ids=[memory_id])
    if not visible(memory, persona):
        raise unknown(memory_id)
    return store.forget([memory])


def set_visibility(
    store: MemoryStore, memory_id: int, persona: str, visibility: Visibility
) -> Memory:
    get_visible(store, memory_id, persona)
    return store.set_visibility(memory_id, visibility)


@dataclass(frozen=True, slots=True)
class Correction:
    memory: Memory  # the correction, saved
    corrects: int  # the memory the answer leaned on


def correct_last(store: MemoryStore, persona: str, said: str, source: Source) -> Correction:
    """Correct the persona's last answer, as `secondself correct TEXT` does: the last
    answered turn's first source, rewritten with what was said, saved as its correction."""
    said = said.strip()
    if not said:
        raise UserError("empty-correction", "correct with what? (the text is empty)", Stage.MEMORY)
    turns = store.recent(SearchFilter(persona=persona, kinds=(Kind.CONVERSATION_TURN,)), limit=1)
    if not turns:
        raise UserError("nothing-to-correct", "there is no answer to correct yet", Stage.MEMORY)
    turn = turns[0]
    question, _, answer = turn.text.removeprefix("Q: ").partition("\nA: ")
    used = [store.get(i) for i in store.quotes().get(turn.id, [])]
    if not used:
        raise UserError(
            "nothing-to-correct",
            "the last answer did not come from a memory: remember the fact instead",
            Stage.MEMORY,
        )
    wrong = used[0]
    fact = corrected_fact(said, answer, question, wrong.text)
    memory = store.remember(
        fact, kind=Kind.CORRECTION, persona=persona, source=source, corrects=wrong.id
    )
    return Correction(memory, wrong.id)
