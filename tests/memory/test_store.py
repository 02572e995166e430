"""The memory store with a fake embedder: saving, filters, supersede, schema."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import apsw
import pytest

from secondself.core.bus import Bus
from secondself.core.errors import UserError
from secondself.core.events import Event, MemorySaved
from secondself.memory import schema
from secondself.memory.db import DB_FILE
from secondself.memory.happened import RESOLVE_BATCH
from secondself.memory.model import Happened, Kind, NewMemory, Origin, SearchFilter, Visibility
from secondself.memory.store import MemoryStore
from tests.memory.test_support import HashEmbedder

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 1.0  # every call a second later: created times are distinct and ordered
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> MemoryStore:
    s = MemoryStore.open(tmp_path / "users" / "ann", HashEmbedder(), clock=Clock())
    yield s  # type: ignore[misc]
    s.close()


def texts(results: list) -> list[str]:  # type: ignore[type-arg]
    return [r.memory.text for r in results]


def test_remember_returns_a_durable_memory_and_publishes(tmp_path: Path) -> None:
    bus = Bus()
    seen: list[Event] = []
    bus.on(seen.append)
    with MemoryStore.open(tmp_path / "u", HashEmbedder(), bus=bus) as store:
        m = store.remember("the spare key is under the blue pot", source=Origin.VOICE)
        assert store.get(m.id) == m
        assert m.kind is Kind.NOTE and m.current and m.source is Origin.VOICE
    assert seen == [MemorySaved(t=seen[0].t, memory_id=m.id, kind="note", source="voice")]
    with MemoryStore.open(tmp_path / "u") as again:  # no embedder needed to read
        assert again.get(m.id).text == "the spare key is under the blue pot"


def test_search_fuses_words_and_vectors(store: MemoryStore) -> None:
    store.remember("the spare key is under the blue flower pot")
    store.remember("my sister's birthday is on the fourth of May")
    store.remember("Bergamot tea is my favourite in the afternoon")
    results = store.search("where is the spare key", SearchFilter(persona="personal"))
    top = results[0]
    assert top.memory.text.startswith("the spare key")
    assert top.scores.vector_rank == 1 and top.scores.bm25_rank == 1
    assert top.scores.similarity > results[1].scores.similarity
    assert top.scores.fused > results[1].scores.fused
    # A rare word alone finds its memory through BM25.
    assert texts(store.search("bergamot", SearchFilter(persona="personal"), 1)) == [
        "Bergamot tea is my favourite in the afternoon"
    ]


def test_fts_syntax_in_queries_is_plain_text(store: MemoryStore) -> None:
    store.remember('he said "NEAR(a b)" OR NOT * ^ and left')
    for query in ['"', "NEAR(", "a OR", "*", "-x", "col:val", "AND AND", "'"]:
        store.search(query, SearchFilter(persona="personal"))  # no FTS5 syntax error


@pytest.mark.parametrize("graph_min", [10_000, 20], ids=["exact", "graph"])
def test_persona_sees_own_and_shared_never_others_private(tmp_path: Path, graph_min: int) -> None:
    with MemoryStore.open(tmp_path / "u", HashEmbedder(), graph_min=graph_min) as store:
        for n in range(40):
            store.remember(f"filler note number {n} about gardening", persona="personal")
        store.remember("work secret: the launch code is falcon", persona="work")
        store.remember(
            "the office wifi is falcon-guest", persona="work", visibility=Visibility.SHARED
        )
        store.remember("my own falcon sighting", persona="personal")
        personal = texts(store.search("falcon launch code", SearchFilter(persona="personal"), 50))
        work = texts(store.search("falcon launch code", SearchFilter(persona="work"), 50))
        assert "work secret: the launch code is falcon" not in personal
        assert "the office wifi is falcon-guest" in personal
        assert "my own falcon sighting" in personal
        assert "work secret: the launch code is falcon" in work
        assert "my own falcon sighting" not in work
        assert "work secret: the launch code is falcon" not in texts(
            store.search("falcon", SearchFilter(persona="personal", visibility=Visibility.SHARED))
        )
        if graph_min == 20:
            assert store.stats()["graph"] == 43


def test_filters_kind_time_and_visibility(store: MemoryStore) -> None:
    a = store.remember("a photo of the beach at sunset", kind=Kind.IMAGE, created=1000.0)
    b = store.remember("notes about the beach trip", created=2000.0)
    c = store.remember(
        "beach towels are in the attic", visibility=Visibility.SHARED, created=3000.0
    )
    where = SearchFilter(persona="personal", kinds=(Kind.IMAGE,))
    assert [r.memory.id for r in store.search("beach", where)] == [a.id]
    where = SearchFilter(persona="personal", since=1500.0, until=2500.0)
    assert [r.memory.id for r in store.search("beach", where)] == [b.id]
    where = SearchFilter(persona="personal", visibility=Visibility.SHARED)
    assert [r.memory.id for r in store.search("beach", where)] == [c.id]
    assert [m.id for m in store.recent(SearchFilter(persona="personal"))] == [c.id, b.id, a.id]


def test_newer_fact_supersedes_older_which_stays_answerable(store: MemoryStore) -> None:
    old = store.remember("My dog is called Biscuit")
    new = store.remember("my dog is called Rex")
    assert store.get(old.id).valid_to == new.valid_from
    assert store.get(old.id).superseded_by == new.id
    now = texts(store.search("what is my dog called", SearchFilter(persona="personal")))
    assert "My dog is called Biscuit" not in now and now[0] == "my dog is called Rex"
    past = texts(
        store.search(
            "what was my dog called", SearchFilter(persona="personal", include_superseded=True)
        )
    )
    assert "My dog is called Biscuit" in past
    # Another persona's facts and unrelated statements are left alone.
    store.remember("my dog is called Fido", persona="work")
    store.remember("my dog likes long walks")
    assert store.get(new.id).current


def test_supersede_within_one_batch_and_older_news_does_not_win(store: MemoryStore) -> None:
    a, b = store.add([NewMemory("I live in Leeds"), NewMemory("I live in York")])
    assert not store.get(a).current and store.get(b).current
    old_news = store.remember("I live in Hull", created=10.0)  # an import from long ago
    assert not store.get(old_news.id).current and store.get(b).current


def test_a_bulk_add_supersedes_across_its_batches_like_one_by_one(tmp_path: Path) -> None:
    # A graph exists before the import, and the two facts land in different batches: the
    # later one must find the earlier one although it is not in the graph at the start.
    with MemoryStore.open(tmp_path / "u", HashEmbedder(), graph_min=20) as store:
        for n in range(30):
            store.remember(f"shopping list item {n}: oat milk and bread")
        assert store.graph_path.exists()
        notes = [NewMemory(f"meeting notes page {n} about the budget") for n in range(200)]
        notes[3] = NewMemory("my dog is called Biscuit")
        notes[150] = NewMemory("my dog is called Rex")
        ids = store.add(notes)
        assert store.get(ids[3]).superseded_by == ids[150]
        assert store.get(ids[150]).current
        assert sum(store.get(i).current for i in ids) == 199


def test_correction_outranks_what_it_corrects(store: MemoryStore) -> None:
    wrong = store.remember("the meeting with Dana is on Tuesday at the library")
    fix = store.remember(
        "correction: the Dana meeting is Thursday", kind=Kind.CORRECTION, corrects=wrong.id
    )
    assert not store.get(wrong.id).current
    both = store.search(
        "meeting with Dana on Tuesday at the library",
        SearchFilter(persona="personal", include_superseded=True),
    )
    order = [r.memory.id for r in both]
    assert order.index(fix.id) < order.index(wrong.id)
    with pytest.raises(UserError, match="no memory with id 999"):
        store.remember("x", kind=Kind.CORRECTION, corrects=999)


def test_recency_breaks_near_ties_mildly(tmp_path: Path) -> None:
    day = 86400.0
    with MemoryStore.open(tmp_path / "u", HashEmbedder(), clock=lambda: 1000 * day) as store:
        old = store.remember("parking spot level three", created=0.0)
        new = store.remember("parking spot level three", created=999 * day)
        results = store.search("parking spot", SearchFilter(persona="personal"))
        assert [r.memory.id for r in results] == [new.id, old.id]
        assert results[0].scores.fused / results[1].scores.fused < 1.15  # mild


def test_model_change_reembeds_with_progress(tmp_path: Path) -> None:
    with MemoryStore.open(tmp_path / "u", HashEmbedder("model-a"), graph_min=5) as store:
        for n in range(12):
            store.remember(f"memory number {n}")
    seen: list[tuple[int, int]] = []
    other = HashEmbedder("model-b")
    with MemoryStore.open(
        tmp_path / "u", other, graph_min=5, progress=lambda d, t: seen.append((d, t))
    ) as store:
        assert seen[-1] == (12, 12)
        assert store.stats()["embed_model"] == "model-b"
        assert store.search("memory number 3", SearchFilter(persona="personal"))[0].memory.text == (
            "memory number 3"
        )
    calls = other.calls
    with MemoryStore.open(tmp_path / "u", other, graph_min=5):
        assert other.calls == calls  # same model: nothing re-embedded


def test_two_users_never_mix(tmp_path: Path) -> None:
    emb = HashEmbedder()
    with MemoryStore.open(tmp_path / "users" / "ann", emb) as ann:
        ann.remember("Ann's bank PIN is 4321")
        ann.remember("Ann's dog is called Biscuit")
    with MemoryStore.open(tmp_path / "users" / "bob", emb) as bob:
        bob.remember("Bob likes sailing")
        for question in ["what is the bank PIN", "what is the dog called", "Biscuit 4321"]:
            found = texts(bob.search(question, SearchFilter(persona="personal"), 20))
            assert found == ["Bob likes sailing"]
    assert b"Biscuit" not in (tmp_path / "users" / "bob" / DB_FILE).read_bytes()


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("x" * 10 * 1024 * 1024, "limit is 32,000"),
        ("\x00\x01\x02binary\x03\x04" * 50, "binary"),
        (bytes(range(256)).decode("latin-1") * 20, "binary"),
    ],
    ids=["empty", "blank", "10MB", "nul", "garbage"],
)
def test_bad_text_is_one_clear_error_and_changes_nothing(
    store: MemoryStore, text: str, message: str
) -> None:
    store.remember("a first memory")
    before = _digest(store.user_dir)
    with pytest.raises(UserError, match=message) as err:
        store.remember(text)
    assert "\n" not in str(err.value)
    assert store.count() == 1
    assert _digest(store.user_dir) == before


def test_unknown_id_is_a_user_error(store: MemoryStore) -> None:
    with pytest.raises(UserError, match="no memory with id 42"):
        store.get(42)
    with pytest.raises(UserError, match="no memory with id 42"):
        store.select_for_forget(ids=[42])


# --- schema -------------------------------------------------------------------------------


def test_an_old_version_file_is_migrated(tmp_path: Path) -> None:
    user = tmp_path / "u"
    user.mkdir()
    db = apsw.Connection(str(user / DB_FILE))
    schema.migrate(db, target=1)  # a file as the first release wrote it
    db.execute(
        "INSERT INTO memories (kind, text, persona, visibility, created, source) "
        "VALUES ('note', 'the old boiler code is 1234', 'personal', 'private', 50.0, 'cli')"
    )
    db.close()
    with MemoryStore.open(user, HashEmbedder()) as store:
        assert schema.version(store.db) == schema.LATEST
        m = store.get(1)
        assert (m.text, m.valid_from, m.valid_to) == ("the old boiler code is 1234", 50.0, None)
        hits = store.search("boiler code", SearchFilter(persona="personal"))
        assert hits[0].memory.id == 1 and hits[0].scores.vector_rank == 1


def test_a_v4_file_gets_the_time_of_every_memory_resolved(tmp_path: Path) -> None:
    user = tmp_path / "u"
    user.mkdir()
    db = apsw.Connection(str(user / DB_FILE))
    schema.migrate(db, target=4)  # a file as the release before happened times wrote it
    said = datetime(2023, 5, 8, 14, 0).timestamp()
    texts = [
        "I went to a support group yesterday",
        "my dog is called Biscuit",
        "I'll see you next Friday",
        *(f"note {n}" for n in range(2 * RESOLVE_BATCH)),  # more rows than one batch
        "we moved to Leeds two weeks ago",
    ]
    with db:  # one transaction, not one per row
        db.executemany(
            "INSERT INTO memories (kind, text, persona, visibility, created, valid_from, source) "
            "VALUES ('note', ?, 'personal', 'private', ?, ?, 'cli')",
            [(text, said, said) for text in texts],
        )
    db.close()
    with MemoryStore.open(user) as store:
        assert schema.version(store.db) == schema.LATEST
        columns = {str(row[1]) for row in store.db.execute("PRAGMA table_info(memories)")}
        assert {"happened_from", "happened_to", "happened_phrase"} <= columns
        group, dog, friday = (store.get(i) for i in (1, 2, 3))
        day = datetime(2023, 5, 7).timestamp(), datetime(2023, 5, 8).timestamp()
        assert (group.text, group.happened) == (texts[0], Happened("yesterday", *day))
        assert dog.happened is None
        assert friday.happened == Happened(
            "next friday", datetime(2023, 5, 19).timestamp(), datetime(2023, 5, 20).timestamp()
        )
        moved = store.get(len(texts))  # past the first batches too
        assert moved.happened == Happened(
            "two weeks ago", datetime(2023, 4, 24).timestamp(), datetime(2023, 5, 1).timestamp()
        )
        named = store.db.execute("SELECT count(*) FROM memories WHERE happened_from IS NOT NULL")
        assert named.fetchone() == (3,)


def test_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    user = tmp_path / "u"
    with MemoryStore.open(user, HashEmbedder()) as store:
        store.remember("something")
    db = apsw.Connection(str(user / DB_FILE))
    db.execute(f"PRAGMA user_version = {schema.LATEST + 1}")
    db.close()
    before = _digest(user)
    with pytest.raises(UserError, match="newer than this secondself knows") as err:
        MemoryStore.open(user, HashEmbedder())
    assert "\n" not in str(err.value)
    assert _digest(user) == before


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    user = tmp_path / "u"
    user.mkdir()
    (user / DB_FILE).write_bytes(b"\x89garbage" * 1000)
    with pytest.raises(UserError, match="not a memory database"):
        MemoryStore.open(user)
    assert (user / DB_FILE).read_bytes() == b"\x89garbage" * 1000


def test_pragmas_for_durability_and_forgetting(store: MemoryStore) -> None:
    pragma = {
        name: store.db.execute(f"PRAGMA {name}").fetchone()[0]  # type: ignore[index]
        for name in ("journal_mode", "synchronous", "secure_delete", "foreign_keys")
    }
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 2,
        "secure_delete": 1,
        "foreign_keys": 1,
    }


def test_word_search_widens_when_the_persona_filter_rejects_most_matches(tmp_path: Path) -> None:
    with MemoryStore.open(tmp_path / "u", HashEmbedder()) as store:
        store.add([NewMemory(f"falcon report {n}", persona="work") for n in range(300)])
        mine = store.remember("a falcon nested on my balcony")
        hits = store.search("falcon", SearchFilter(persona="personal"), 5)
        assert [h.memory.id for h in hits] == [mine.id]
        assert hits[0].scores.bm25_rank == 1
