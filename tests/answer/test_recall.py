"""A persona's memory over the real store (hashed embeddings): what its spoken forget says."""

from __future__ import annotations

from pathlib import Path

import pytest

from secondself.answer.recall import PersonaMemory
from secondself.memory.model import Kind, Origin
from secondself.memory.store import MemoryStore
from tests.memory.test_support import HashEmbedder

pytestmark = pytest.mark.unit


def test_a_spoken_forget_counts_only_what_the_persona_may_see(tmp_path: Path) -> None:
    secret = "the server room door code is 4491-22"
    with MemoryStore.open(tmp_path / "u", HashEmbedder()) as store:
        work_turn = store.remember(
            f"Q: what is the door code?\nA: {secret}", kind=Kind.CONVERSATION_TURN, persona="work"
        )
        personal = PersonaMemory(store, "personal")
        personal.remember(secret, Origin.VOICE)  # a guess at what work was told
        # "I forgot 1 memory" either way: the count is no yes/no on work's private turns.
        assert len(personal.forget_matching(secret)) == 1
        assert store.get(work_turn.id).text.endswith(secret)
