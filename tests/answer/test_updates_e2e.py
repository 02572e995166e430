"""Updates said in any words, end to end: remembered into the real store (SQLite +
sqlite-vec + MiniLM), then asked: the answer uses the newer fact, said straight from memory
or shown to the model without the older one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from secondself.answer.recall import PersonaMemory
from secondself.answer.turn import Conversation, TurnResult
from secondself.core.bus import Bus
from secondself.memory.embedding import LlamaEmbedder, load_embedder
from secondself.memory.model import NewMemory
from secondself.memory.store import MemoryStore
from secondself.weights.manifest import ModelStore
from tests.support.fakes import (
    RecordingSpeaker,
    ScriptedAnswerModel,
    ScriptedTranscriber,
    ToneSynthesizer,
)

pytestmark = pytest.mark.e2e

# (older, newer, question, the newer value, the older value)
UPDATES = [
    (
        "My office is on the second floor.",
        "We moved, my office is now on the fifth floor.",
        "Which floor is my office on?",
        "fifth",
        "second",
    ),
    (
        "Our landlord is Mr Patel.",
        "Our new landlord is Mrs Okoye.",
        "Who is our landlord?",
        "Okoye",
        "Patel",
    ),
    (
        "The meeting with Priya is on Monday at 10am.",
        "The meeting with Priya got moved to Wednesday at 10am.",
        "When is the meeting with Priya?",
        "Wednesday",
        "Monday",
    ),
    (
        "I keep the spare key under the blue flower pot.",
        "I keep the spare key under the red flower pot now.",
        "Where is the spare key?",
        "red",
        "blue",
    ),
    (
        "My sister lives in Lisbon.",
        "My sister has moved to Porto.",
        "Where does my sister live?",
        "Porto",
        "Lisbon",
    ),
    (
        "I go swimming on Mondays.",
        "I go swimming on Saturdays now.",
        "When do I go swimming?",
        "Saturdays",
        "Mondays",
    ),
]


@pytest.fixture(scope="module")
def embedder(model_store: ModelStore) -> LlamaEmbedder:
    return load_embedder(model_store, "all-minilm-l6-v2", threads=1)


@pytest.fixture
def store(tmp_path: Path, embedder: LlamaEmbedder) -> Iterator[MemoryStore]:
    with MemoryStore.open(tmp_path / "u", embedder) as store:
        yield store


def ask(store: MemoryStore, question: str) -> tuple[TurnResult, str, Conversation]:
    """The reply, and what the model was shown (empty when it was not asked)."""
    model = ScriptedAnswerModel(["Your answer."])
    talk = Conversation(
        Bus(),
        ScriptedTranscriber([]),
        PersonaMemory(store, "personal"),
        model,
        ToneSynthesizer(),
        RecordingSpeaker(),
    )
    result = asyncio.run(talk.answer(question))
    shown = " ".join(m.content for messages in model.seen for m in messages)
    return result, shown, talk


@pytest.mark.parametrize(
    ("old", "new", "question", "now", "before"), UPDATES, ids=lambda v: str(v)[:24]
)
def test_the_answer_uses_the_newer_fact(
    store: MemoryStore, old: str, new: str, question: str, now: str, before: str
) -> None:
    older = store.remember(old)
    newer = store.remember(new)
    assert not store.get(older.id).current and store.get(older.id).superseded_by == newer.id
    result, shown, _ = ask(store, question)
    said = result.reply if result.backend == "memory" else shown
    assert now.lower() in said.lower() and before.lower() not in said.lower(), (result.reply, shown)


def test_the_office_floor_is_said_from_the_newer_memory(store: MemoryStore) -> None:
    store.remember("My office is on the second floor.")
    store.remember("We moved, my office is now on the fifth floor.")
    result, _, talk = ask(store, "Which floor is my office on?")
    assert result.backend == "memory"
    assert result.reply == "You moved, your office is now on the fifth floor."
    assert talk.last_score is not None and talk.last_score.score >= 60


def test_two_current_facts_that_conflict_are_settled_when_answering(store: MemoryStore) -> None:
    # Kept as they came (an archive's own links): both current, the older first in meaning.
    old, new = store.add(
        [
            NewMemory("My office is on the second floor.", created=1000.0, check_supersede=False),
            NewMemory(
                "We moved, my office is now on the fifth floor.",
                created=2000.0,
                check_supersede=False,
            ),
        ]
    )
    assert store.get(old).current and store.get(new).current
    result, shown, talk = ask(store, "Which floor is my office on?")
    assert [s.memory_id for s in result.sources] == [new]
    said = result.reply if result.backend == "memory" else shown
    assert "fifth" in said and "second" not in said
    assert talk.last_score is not None and talk.last_score.disputed
