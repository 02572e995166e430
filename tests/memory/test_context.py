"""Conversation turns in the real store (SQLite, FTS5, sqlite-vec) with the fake embedder:
their context (speaker, window), the ranking that uses it, forgetting, migration, import."""

from __future__ import annotations

import json
from pathlib import Path

import apsw
import numpy as np
import pytest

from secondself.core.errors import UserError
from secondself.memory import archive, context, importer, neighbourhood, schema, speakers
from secondself.memory.db import DB_FILE
from secondself.memory.filters import condition
from secondself.memory.model import NewMemory, SearchFilter, Visibility
from secondself.memory.store import MemoryStore
from tests.memory.test_support import HashEmbedder, files_containing

pytestmark = pytest.mark.unit

EVERYONE = SearchFilter(persona="personal")


def chat(thread: str, *lines: str) -> list[NewMemory]:
    return [NewMemory(line, thread=thread, seq=n) for n, line in enumerate(lines)]


def top(store: MemoryStore, query: str, k: int = 3) -> list[str]:
    return [r.memory.text for r in store.search(query, EVERYONE, k)]


@pytest.fixture
def store(tmp_path: Path) -> MemoryStore:
    s = MemoryStore.open(tmp_path / "u", HashEmbedder())
    yield s  # type: ignore[misc]
    s.close()


# --- names --------------------------------------------------------------------------------


def test_a_turn_is_split_into_its_speaker_and_what_they_said() -> None:
    assert speakers.split_speaker("Melanie: I painted a lake.") == ("Melanie", "I painted a lake.")
    assert speakers.split_speaker("Dr Ann Lee:  Take two.") == ("Dr Ann Lee", "Take two.")
    assert speakers.split_speaker("no speaker here") == ("", "no speaker here")
    assert speakers.split_speaker("one two three four: too many words") == (
        "",
        "one two three four: too many words",
    )
    assert speakers.split_speaker("Ann:") == ("", "Ann:")  # nothing said


def test_the_names_a_question_says_are_found_and_cut() -> None:
    known = ["Ann Lee", "Ben"]
    assert speakers.named("What did ann say about Ben's kite?", known) == ["Ann Lee", "Ben"]
    assert speakers.named("Where did Benjamin go?", known) == []  # whole words only
    assert speakers.without_names("What did Ann Lee's dog eat?", ["Ann Lee"]) == (
        "What did dog eat?"
    )


# --- context ------------------------------------------------------------------------------


def test_a_turn_is_found_by_the_words_of_the_turns_around_it(store: MemoryStore) -> None:
    store.add([NewMemory(f"note {n} about groceries and chores") for n in range(20)])
    store.add(chat("t1", "Ann: We rented a canoe on Lake Bled", "Ben: Wonderful, I envy you!"))
    store.add(chat("t2", "Ben: Wonderful news about the job"))
    # "Wonderful, I envy you!" says nothing of canoes: its window does.
    found = top(store, "who envied the canoe on Lake Bled?", 2)
    assert "Ben: Wonderful, I envy you!" in found
    assert "Ben: Wonderful news about the job" not in top(store, "canoe Bled envy", 2)


def test_a_turn_vector_is_made_of_what_was_said_without_the_name(tmp_path: Path) -> None:
    emb = HashEmbedder()
    with MemoryStore.open(tmp_path / "u", emb) as store:
        (turn,) = store.add(chat("t", "Melanie: I painted a sunrise"))
        (note,) = store.add([NewMemory("Melanie: a note, not a turn")])
        [(_, turn_sim)] = store.search_vector(emb.embed(["I painted a sunrise"])[0], EVERYONE, 1)
        assert turn_sim == pytest.approx(1.0, abs=1e-5)
        hit = store.search_vector(emb.embed(["Melanie: a note, not a turn"])[0], EVERYONE, 1)
        assert hit[0][0] == note and hit[0][1] == pytest.approx(1.0, abs=1e-5)
        assert turn != note


def test_the_person_a_question_names_is_preferred_never_required(store: MemoryStore) -> None:
    store.add([NewMemory(f"note {n} about groceries and chores") for n in range(20)])
    store.add(
        chat(
            "t",
            "Ann: I flew a red kite at the beach",
            "Ben: I flew a kite in the park last week",
            "Ann: Lovely weather for it",
        )
    )
    assert top(store, "Where did Ben fly a kite?", 1) == [
        "Ben: I flew a kite in the park last week"
    ]
    assert top(store, "Where did Ann fly a kite?", 1) == ["Ann: I flew a red kite at the beach"]
    # Named wrongly (on purpose or by mistake): what only Ann said is still found.
    assert "Ann: I flew a red kite at the beach" in top(store, "When did Ben fly a red kite?")


def test_the_second_stage_prefers_a_turn_whose_conversation_is_about_the_question(
    store: MemoryStore,
) -> None:
    trip = ["Ann: We took the boat out on the lake", "Ben: How was the water?"]
    trip += [f"Ann: filler line {n}" for n in range(4)] + ["Ann: I caught one at last"]
    (*_, on_the_lake) = store.add(chat("trip", *trip))
    (_, at_work) = store.add(chat("work", "Ann: The office is busy", "Ann: I caught one at last"))
    # The same words, out of each other's windows: only the conversation around tells.
    found = [r.memory.id for r in store.search("what was caught on the boat trip?", EVERYONE, 5)]
    assert found.index(on_the_lake) < found.index(at_work)
    cond, params = condition(EVERYONE, 0.0)
    words = ["caught", "boat", "trip"]
    scores = neighbourhood.scores(store.db, found, words, cond, params, store.count())
    assert scores[on_the_lake] > scores[at_work] > 0


def windows_with(store: MemoryStore, word: str) -> list[str]:
    """The turns whose window's words hold `word` (the stemmed window index, directly)."""
    found = store.db.execute(
        "SELECT rowid FROM context_fts WHERE context_fts MATCH ?", (f'"{word}"',)
    )
    return sorted(store.get(int(r[0])).text for r in found)


def test_neighbours_are_the_same_persona_and_visibility_only(store: MemoryStore) -> None:
    store.add([NewMemory("Ann: my zqxjsecret plan", thread="t", seq=0, persona="work")])
    store.add([NewMemory("Ann: sounds fine", thread="t", seq=1, visibility=Visibility.SHARED)])
    store.add([NewMemory("Ann: and then?", thread="t", seq=2, persona="work")])
    # The shared turn's window never holds the work persona's private words.
    assert windows_with(store, "zqxjsecret") == ["Ann: and then?", "Ann: my zqxjsecret plan"]


def test_a_long_import_gives_every_turn_its_context_across_build_batches(
    store: MemoryStore,
) -> None:
    lines = [f"Ann: line {n}" for n in range(300)]
    lines[context.REFRESH_BATCH] = "Ann: the zqxjmarker line"  # first of the second batch
    store.add(chat("t", *lines))
    assert store.db.execute("SELECT count(*) FROM memory_context").fetchone() == (300,)
    at = context.REFRESH_BATCH
    assert windows_with(store, "zqxjmarker") == sorted(lines[at - 2 : at + 3])


def test_a_turn_without_a_place_follows_its_threads_last(store: MemoryStore) -> None:
    store.add(chat("t", "Ann: one", "Ben: two"))
    (later,) = store.add([NewMemory("Ann: three", thread="t")])
    (alone,) = store.add([NewMemory("a note")])
    assert (store.get(later).thread, store.get(later).seq) == ("t", 2)
    assert (store.get(alone).thread, store.get(alone).seq) == (None, None)


def test_forgetting_a_turn_leaves_no_trace_in_its_neighbours_context(tmp_path: Path) -> None:
    home = tmp_path / "home"
    user = home / "u"
    with MemoryStore.open(user, HashEmbedder()) as store:
        store.add([NewMemory(f"note {n} about groceries and chores") for n in range(20)])
        ids = store.add(
            chat("t", "Ann: meet at the harbour", "Ben: my code is zqxjmarker", "Ann: noted")
        )
        assert "Ann: noted" in top(store, "zqxjmarker", 3)  # through its window
        assert len(windows_with(store, "zqxjmarker")) == 3
        store.forget([store.get(ids[1])])
        assert windows_with(store, "zqxjmarker") == []
        # The neighbours' contexts are built again, without it.
        assert windows_with(store, "harbour") == ["Ann: meet at the harbour", "Ann: noted"]
    assert files_containing(home, [b"zqxjmarker"]) == []


def test_contexts_dropped_without_an_embedder_are_rebuilt_when_opened_with_one(
    tmp_path: Path,
) -> None:
    user = tmp_path / "u"
    with MemoryStore.open(user, HashEmbedder()) as store:
        ids = store.add(chat("t", "Ann: the harbour", "Ben: the gull", "Ann: the boat"))
    with MemoryStore.open(user) as plain:  # no embedder: forgetting still works
        plain.forget([plain.get(ids[1])])
        assert windows_with(plain, "gull") == []
    with MemoryStore.open(user, HashEmbedder()) as store:
        assert windows_with(store, "harbour") == ["Ann: the boat", "Ann: the harbour"]


def test_a_new_embedding_model_rebuilds_the_contexts(tmp_path: Path) -> None:
    user = tmp_path / "u"
    with MemoryStore.open(user, HashEmbedder("hash-a")) as store:
        store.add(chat("t", "Ann: the harbour", "Ben: the gull"))
        before = store.db.execute("SELECT embedding FROM memory_context ORDER BY 1").fetchall()
    with MemoryStore.open(user, HashEmbedder("hash-b", dimensions=128)) as store:
        after = store.db.execute("SELECT embedding FROM memory_context ORDER BY 1").fetchall()
        assert len(after) == 2 and len(after[0][0]) == 128 * 4 != len(before[0][0])
        assert "Ben: the gull" in top(store, "harbour", 2)


# --- schema, import, export ---------------------------------------------------------------


def test_a_file_from_before_conversation_context_is_migrated(tmp_path: Path) -> None:
    user = tmp_path / "u"
    user.mkdir()
    db = apsw.Connection(str(user / DB_FILE))
    schema.migrate(db, target=4)  # the last schema without threads
    db.execute(
        "INSERT INTO memories (kind, text, persona, visibility, created, valid_from, source) "
        "VALUES ('note', 'Ann: the old boiler code is 1234', 'personal', 'private', 5, 5, 'cli')"
    )
    db.close()
    with MemoryStore.open(user, HashEmbedder()) as store:
        assert schema.version(store.db) == schema.LATEST
        old = store.get(1)
        assert (old.text, old.thread, old.seq) == ("Ann: the old boiler code is 1234", None, None)
        assert top(store, "boiler code", 1) == ["Ann: the old boiler code is 1234"]
        store.add(chat("t", "Ann: the new boiler code is 5678"))
        assert store.get(2).thread == "t"
        assert top(store, "new boiler code", 1) == ["Ann: the new boiler code is 5678"]


def test_import_reads_thread_and_seq_and_an_archive_keeps_them(tmp_path: Path) -> None:
    lines = [
        {"text": "Ann: we rented a canoe", "thread": "chat", "seq": 0},
        {"text": "Ben: lucky you", "thread": "chat", "seq": 1},
        {"text": "a plain note"},
    ]
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with MemoryStore.open(tmp_path / "a", HashEmbedder()) as a:
        importer.run(a, importer.plan(path, "personal"))
        assert "Ben: lucky you" in top(a, "canoe", 2)
        archive.export(a, tmp_path / "out.tar.gz")
    with MemoryStore.open(tmp_path / "b", HashEmbedder()) as b:
        importer.run(b, importer.plan(tmp_path / "out.tar.gz", "personal"))
        kept = sorted((m.text, m.thread, m.seq) for m in b.iterate())
        assert kept == [
            ("Ann: we rented a canoe", "chat", 0),
            ("Ben: lucky you", "chat", 1),
            ("a plain note", None, None),
        ]
        assert "Ben: lucky you" in top(b, "canoe", 2)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"text": "x", "thread": "t", "seq": "two"}, '"seq" must be a whole number'),
        ({"text": "x", "thread": "t", "seq": -1}, '"seq" must be a whole number'),
        ({"text": "x", "thread": "t", "seq": True}, '"seq" must be a whole number'),
        ({"text": "x", "seq": 3}, '"seq" needs a "thread"'),
        ({"text": "x", "thread": ""}, '"thread" must be a name'),
        ({"text": "x", "thread": 7}, '"thread" must be a name'),
        ({"text": "x", "thread": "t" * 201}, '"thread" must be a name'),
    ],
)
def test_a_bad_thread_or_seq_stops_the_import_before_anything_is_written(
    tmp_path: Path, record: dict[str, object], message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"text": "fine", "thread": "t"}) + "\n" + json.dumps(record) + "\n")
    with MemoryStore.open(tmp_path / "u", HashEmbedder()) as store:
        with pytest.raises(UserError, match=f"bad.jsonl:2: {message}") as err:
            importer.plan(path, "personal")
        assert "\n" not in str(err.value) and err.value.exit_code == 2
        with pytest.raises(UserError, match=message):
            store.add([NewMemory("y", thread=record.get("thread"), seq=record.get("seq"))])  # type: ignore[arg-type]
        assert store.count() == 0


def test_search_results_carry_the_scores_the_answer_layer_reads(store: MemoryStore) -> None:
    store.add(chat("t", "Ann: the spare key is under the blue pot", "Ben: good to know"))
    (hit,) = store.search("where is the spare key", EVERYONE, 1)
    assert hit.memory.text == "Ann: the spare key is under the blue pot"
    assert hit.scores.vector_rank == 1 and hit.scores.bm25_rank == 1
    assert hit.scores.similarity == pytest.approx(
        float(
            np.dot(
                HashEmbedder().embed(["where is the spare key"])[0],
                HashEmbedder().embed(["the spare key is under the blue pot"])[0],
            )
        ),
        abs=1e-5,
    )


def test_the_neighbourhood_counts_every_word_of_a_stem(store: MemoryStore) -> None:
    # Porter rewrites the ends of words ("toys" and "toy" -> "toi"): still counted.
    (toys, beside) = store.add(chat("t", "Ann: the kids love their toy", "Ann: nothing here"))
    note = store.remember("my toy robot").id
    cond, params = condition(EVERYONE, 0.0)
    ids = [toys, beside, note]
    scores = neighbourhood.scores(store.db, ids, ["toys"], cond, params, store.count())
    assert scores[toys] > 0 and scores[beside] > 0  # the same thread, within reach
    assert scores[note] > 0  # outside any thread: its own words
