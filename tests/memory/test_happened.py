"""Every way into the store resolves a memory's time words against when it was said and
keeps them beside its words: remember, a bulk add, a JSONL import, an archive round trip;
reads and searches carry the time."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from secondself.memory import archive, importer
from secondself.memory.model import Happened, NewMemory, SearchFilter
from secondself.memory.store import MemoryStore
from tests.memory.test_support import HashEmbedder

pytestmark = pytest.mark.unit


def local(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


MONDAY = local("2023-05-08 14:00")  # Monday 8 May 2023, local time
SUNDAY_7_MAY = Happened("yesterday", local("2023-05-07"), local("2023-05-08"))


@pytest.fixture
def store(tmp_path: Path) -> MemoryStore:
    s = MemoryStore.open(tmp_path / "u", HashEmbedder(), clock=lambda: MONDAY)
    yield s  # type: ignore[misc]
    s.close()


def test_remember_keeps_the_words_and_the_time_they_name(store: MemoryStore) -> None:
    saved = store.remember("I went to a support group yesterday")  # said now: the clock
    assert saved.text == "I went to a support group yesterday"
    assert saved.happened == SUNDAY_7_MAY
    assert store.get(saved.id).happened == SUNDAY_7_MAY
    hit = store.search("support group", SearchFilter(persona="personal"))[0]
    assert hit.memory.happened == SUNDAY_7_MAY
    assert store.remember("my dog is called Biscuit").happened is None


def test_each_memory_of_a_bulk_add_is_placed_against_its_own_time(store: MemoryStore) -> None:
    ids = store.add(
        [
            NewMemory("I went swimming yesterday", created=local("2023-05-08 09:00")),
            NewMemory("I went swimming yesterday", created=local("2022-12-25 09:00")),
            NewMemory("See you next Friday", created=local("2023-05-08 09:00")),
        ]
    )
    found = store.get_many(ids)
    assert [found[i].happened for i in ids] == [
        SUNDAY_7_MAY,
        Happened("yesterday", local("2022-12-24"), local("2022-12-25")),
        Happened("next friday", local("2023-05-19"), local("2023-05-20")),
    ]


def test_an_import_and_an_archive_round_trip_resolve_the_same(tmp_path: Path) -> None:
    lines = [
        {"text": "Caroline went to a LGBTQ support group yesterday", "created": "2023-05-08T14:00"},
        {"text": "Melanie painted a sunrise last year", "created": "2023-05-08T14:00"},
        {"text": "The wifi password is on the fridge", "created": "2023-05-08T14:00"},
    ]
    jsonl = tmp_path / "conversation.jsonl"
    jsonl.write_text("\n".join(json.dumps(line) for line in lines))
    with MemoryStore.open(tmp_path / "a", HashEmbedder()) as first:
        ids = importer.run(first, importer.plan(jsonl, persona="personal")).ids
        imported = [first.get(i).happened for i in ids]
        archive.export(first, tmp_path / "all.tar.gz")
    assert imported == [
        Happened("yesterday", local("2023-05-07"), local("2023-05-08")),
        Happened("last year", local("2022-01-01"), local("2023-01-01")),
        None,
    ]
    with MemoryStore.open(tmp_path / "b", HashEmbedder()) as second:
        again = importer.run(second, importer.plan(tmp_path / "all.tar.gz", persona="personal")).ids
        assert [second.get(i).happened for i in again] == imported
