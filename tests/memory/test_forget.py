"""Forgetting for real: after a forget, no file under the data home holds the forgotten text."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import apsw
import numpy as np
import pytest

from secondself.core.errors import SecondselfError, UserError
from secondself.memory.model import Kind, MediaInput, NewMemory, SearchFilter, Visibility
from secondself.memory.store import MemoryStore, forget_user
from tests.memory.test_support import HashEmbedder, files_containing, tiny_jpeg

pytestmark = pytest.mark.unit

MARKER = "zqxjmarker"  # a word that appears nowhere else


def _fill(store: MemoryStore, n: int) -> None:
    store.add([NewMemory(f"ordinary note {i} about shopping lists and chores") for i in range(n)])


def _needles(text: str, vector: np.ndarray) -> list[bytes]:
    # The text in every case it could be stored in, its vector as float32 and as float16.
    return [
        text.encode(),
        text.lower().encode(),
        MARKER.encode(),
        vector.astype("<f4").tobytes(),
        vector.astype("<f2").tobytes(),
    ]


def test_forget_by_match_leaves_no_trace_in_any_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    user = home / "users" / "ann"
    emb = HashEmbedder()
    secret = f"my locker combination is {MARKER} 31-07-99"
    with MemoryStore.open(user, emb, graph_min=50) as store:
        _fill(store, 120)
        target = store.remember(secret)
        photo = store.remember(
            f"photo of the {MARKER} locker",
            kind=Kind.IMAGE,
            media=MediaInput(tiny_jpeg(payload=b"locker-pixels"), "jpg"),
        )
        turn = store.remember(
            "what is my locker combination? It is 31-07-99",
            kind=Kind.CONVERSATION_TURN,
            sources=[target.id],
        )
        quoting = store.remember(f"you told me: {secret}", kind=Kind.CONVERSATION_TURN)
        keeper = store.remember("the gym is open until ten")
        assert store.stats()["graph"] is not None
    vector = emb.embed([secret])[0]
    # Sanity: before forgetting, the scan does find it (graph saved, media written).
    assert files_containing(home, _needles(secret, vector))
    assert (user / photo.media).exists()  # type: ignore[operator]

    with MemoryStore.open(user, emb, graph_min=50) as store:
        report = store.forget(store.select_for_forget(match=MARKER))
        assert set(report.ids) == {target.id, photo.id, turn.id, quoting.id}
        assert turn.id in report.turns_removed
        assert report.media_removed == (photo.media,)
        assert store.get(keeper.id).text == "the gym is open until ten"
        assert not store.search(MARKER, SearchFilter(persona="personal"), 5)[0].scores.bm25_rank
        assert target.id not in [
            i for i, _ in store.search_vector(vector, SearchFilter(persona="personal"), 5)
        ]
        assert store.integrity() == "ok"
    assert files_containing(home, _needles(secret, vector)) == []
    assert files_containing(home, [b"31-07-99", b"locker-pixels"]) == []
    assert (
        (user / "memory.db-wal").stat().st_size == 0 if (user / "memory.db-wal").exists() else True
    )


def test_forget_by_id_time_and_persona(tmp_path: Path) -> None:
    emb = HashEmbedder()
    user = tmp_path / "u"
    with MemoryStore.open(user, emb) as store:
        a = store.remember("alpha note", created=100.0)
        b = store.remember("bravo note", created=200.0)
        c = store.remember("charlie note", created=300.0, persona="work")
        d = store.remember("delta note", created=400.0)

        assert store.forget(store.select_for_forget(ids=[a.id])).ids == (a.id,)
        chosen = store.select_for_forget(since=150.0, until=350.0)
        assert [m.id for m in chosen] == [b.id, c.id]  # every persona of the user
        chosen = store.select_for_forget(persona="work")
        assert [m.id for m in chosen] == [c.id]
        store.forget(chosen)
        assert [m.id for m in store.iterate()] == [b.id, d.id]
        with pytest.raises(UserError, match="say what to forget"):
            store.select_for_forget()
        with pytest.raises(UserError, match="no memory with id"):
            store.select_for_forget(ids=[a.id])  # already gone
    assert files_containing(tmp_path, [b"alpha note", b"charlie note"]) == []


def test_forgetting_an_update_brings_back_the_older_fact(tmp_path: Path) -> None:
    with MemoryStore.open(tmp_path / "u", HashEmbedder()) as store:
        old = store.remember("my dog is called Biscuit")
        new = store.remember("my dog is called Rex")
        assert not store.get(old.id).current
        store.forget([new])
        assert store.get(old.id).current and store.get(old.id).superseded_by is None


def test_shared_media_stays_while_another_memory_uses_it(tmp_path: Path) -> None:
    picture = MediaInput(tiny_jpeg(payload=b"same-picture"), "jpg")
    with MemoryStore.open(tmp_path / "u", HashEmbedder()) as store:
        a = store.remember("first caption", kind=Kind.IMAGE, media=picture)
        b = store.remember("second caption", kind=Kind.IMAGE, media=picture)
        assert a.media == b.media
        assert store.forget([a]).media_removed == ()
        assert (store.user_dir / b.media).exists()  # type: ignore[operator]
        assert store.forget([b]).media_removed == (b.media,)
        assert not (store.user_dir / "media").exists() or not any(
            (store.user_dir / "media").rglob("*.jpg")
        )


def test_forget_whole_user_removes_the_folder(tmp_path: Path) -> None:
    user = tmp_path / "users" / "ann"
    with MemoryStore.open(user, HashEmbedder(), graph_min=5) as store:
        _fill(store, 10)
        store.remember("a picture", kind=Kind.IMAGE, media=MediaInput(b"\xff\xd8pic", "jpg"))
    removed = forget_user(user)
    assert "memory.db" in removed and "memory.graph" in removed
    assert not user.exists()
    with pytest.raises(UserError):
        forget_user(user)


def test_a_store_whose_user_was_forgotten_elsewhere_reads_and_saves_nothing(
    tmp_path: Path,
) -> None:
    user = tmp_path / "users" / "ann"
    with MemoryStore.open(user, HashEmbedder(), graph_min=5) as store:  # the daemon's
        _fill(store, 10)
        store.remember("the spare key is under the blue pot")
        forget_user(user)  # `forget --user-all`, in another process
        assert store.replaced
        for use in (
            lambda: store.remember("my bike lock code is 4432"),
            lambda: store.search("spare key", SearchFilter(persona="personal")),
        ):
            with pytest.raises(SecondselfError, match="removed or replaced"):
                use()
        # A commit that slipped past that check is rolled back, not lost in a deleted file.
        with pytest.raises(apsw.ConstraintError), store.db:
            store.db.execute("INSERT INTO meta (key, value) VALUES ('late', 'write')")
    assert not user.exists()  # closing saved no graph into the folder it no longer has


def test_forgetting_a_user_lets_a_write_in_progress_finish_first(tmp_path: Path) -> None:
    user = tmp_path / "users" / "ann"
    with MemoryStore.open(user, HashEmbedder()) as store:
        store.remember("a first note")
        writing = threading.Event()
        ends_at: list[float] = []

        def slow_write() -> None:
            with store.db:
                store.db.execute("INSERT INTO meta (key, value) VALUES ('slow', 'write')")
                ends_at.append(time.monotonic() + 0.5)
                writing.set()
                time.sleep(0.5)

        writer = threading.Thread(target=slow_write)
        writer.start()
        assert writing.wait(10)
        forget_user(user)
        # The write committed before the files went (so the forget took it too); it was
        # not acknowledged into a file already deleted.
        assert time.monotonic() >= ends_at[0]
        writer.join()
    assert not user.exists()


def test_a_forget_in_another_process_changes_the_forget_epoch(tmp_path: Path) -> None:
    emb = HashEmbedder()
    with MemoryStore.open(tmp_path / "u", emb) as a, MemoryStore.open(tmp_path / "u", emb) as b:
        kept = a.remember("the gym is open until ten")
        gone = a.remember("the spare key is under the blue pot")
        epoch = a.forget_epoch()
        a.remember("a new note")
        assert a.forget_epoch() == epoch  # saving forgets nothing
        b.forget([b.get(gone.id)])
        assert a.forget_epoch() != epoch
        assert a.get(kept.id) == kept


def test_graph_file_is_purged_even_without_an_embedder(tmp_path: Path) -> None:
    user = tmp_path / "u"
    emb = HashEmbedder()
    with MemoryStore.open(user, emb, graph_min=20) as store:
        _fill(store, 40)
        target = store.remember(f"{MARKER} secret")
    vector = emb.embed([f"{MARKER} secret"])[0]
    assert files_containing(user, [vector.astype("<f2").tobytes()]) == ["memory.graph"]
    with MemoryStore.open(user, graph_min=20) as store:  # as `secondself forget` opens it
        store.forget([store.get(target.id)])
    assert files_containing(user, _needles(f"{MARKER} secret", vector)) == []
    with MemoryStore.open(user, emb, graph_min=20) as store:  # and the graph still works
        assert store.stats()["graph"] == 40


def test_repeated_forgets_keep_the_graph_file_clean(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    user = tmp_path / "u"
    emb = HashEmbedder()
    with MemoryStore.open(user, emb, graph_min=20) as store:
        _fill(store, 60)
        caplog.set_level("INFO", logger="secondself.memory.index")
        for round_ in range(3):
            doomed = [store.remember(f"{MARKER} round {round_} item {n}") for n in range(5)]
            store.remember(f"an unrelated note added in round {round_}")
            store.forget(doomed)
            needles = [v.astype("<f2").tobytes() for v in emb.embed([m.text for m in doomed])]
            assert files_containing(user, needles) == []
        assert "rewriting the graph index" not in caplog.text  # the fast path did it
        assert store.stats()["graph"] == 63


def test_a_personas_forget_reports_only_what_it_may_see_and_takes_no_private_turn_it_made_up(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    with MemoryStore.open(home / "u", HashEmbedder()) as store:
        # Persona work guards its private turns; persona personal tries to learn of them.
        secret = "the server room door code is 4491-22"
        theirs = store.remember(f"Q: what is the door code?\nA: {secret}", **WORK_TURN)
        code = store.remember("the office alarm code is 7730-15", visibility=Visibility.SHARED)
        citing = store.remember("Q: the alarm?\nA: It is 7730-15", **WORK_TURN, sources=[code.id])
        quoting = store.remember(f"Q: and the alarm?\nA: {code.text}", **WORK_TURN)
        mine = store.remember(f"Q: tell me the alarm code\nA: {code.text}", **PERSONAL_TURN)

        # A made-up text, as a memory of its own or a shared one, probes nothing, deletes nothing.
        for visibility in (Visibility.PRIVATE, Visibility.SHARED):
            guess = store.remember(secret, persona="personal", visibility=visibility)
            report = store.forget([guess], persona="personal")
            assert report.ids == (guess.id,) and report.turns_removed == ()
        assert store.get(theirs.id).text.endswith(secret)

        # A shared memory, forgotten: gone from every turn that held it, reported only as
        # far as the asking persona may see.
        report = store.forget([code], persona="personal")
        assert report.ids == (code.id, mine.id)
        assert report.turns_removed == (mine.id,)
        assert store.get_many([citing.id, quoting.id, mine.id]) == {}
        assert store.get(theirs.id).id == theirs.id
    assert files_containing(home, [b"7730-15"]) == []


WORK_TURN = {"kind": Kind.CONVERSATION_TURN, "persona": "work"}
PERSONAL_TURN = {"kind": Kind.CONVERSATION_TURN, "persona": "personal"}
