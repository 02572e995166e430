"""What the page changes in a user's memory, with the CLI's rules (blocking: run in threads).

A persona sees its own memories and the shared ones; to it, another persona's private
memory does not exist. Forgetting goes through the store's one full purge (rows, vectors,
text index, media, the turns that quoted it, WAL), as `secondself forget ID` does.
"""

from __future__ import annotations

from secondself.core.errors import Stage, UserError
from secondself.memory.model import ForgetReport, Memory, Visibility
from secondself.memory.store import MemoryStore


def unknown(memory_id: int) -> UserError:
    return UserError("memory-unknown-id", f"no memory with id {memory_id}", Stage.MEMORY)


def get_visible(store: MemoryStore, memory_id: int, persona: str) -> Memory:
    memory = store.get(memory_id)
    if not memory.visible_to(persona):
        raise unknown(memory_id)
    return memory


def forget(store: MemoryStore, memory_id: int, persona: str) -> ForgetReport:
    (memory,) = store.select_for_forget(ids=[memory_id])
    if not memory.visible_to(persona):
        raise unknown(memory_id)
    return store.forget([memory], persona=persona)


def set_visibility(
    store: MemoryStore, memory_id: int, persona: str, visibility: Visibility
) -> Memory:
    get_visible(store, memory_id, persona)
    return store.set_visibility(memory_id, visibility)
