"""Import (notes, photos, JSONL, archives) and export, with the fake embedder."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from secondself.core.errors import UserError
from secondself.memory import archive, imported, importer
from secondself.memory.model import Kind, NewMemory, Origin, SearchFilter, Visibility
from secondself.memory.store import MemoryStore
from tests.memory.test_support import HashEmbedder, tiny_jpeg

pytestmark = pytest.mark.unit

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    shutil.copytree(DATA / "memory_notes", folder)
    (folder / "sunflower.jpg").write_bytes(tiny_jpeg("2023:08:15 17:45:00", b"sunflower"))
    (folder / "IMG_2041.jpg").write_bytes(tiny_jpeg(None, b"beach"))
    (folder / "dog_at_the_beach.png").write_bytes(b"\x89PNG\r\n\x1a\nnot-really")
    (folder / ".hidden.md").write_text("secret hidden note")
    (folder / "song.mp3").write_bytes(b"ID3")
    return folder


def test_import_a_folder_of_notes_and_photos(tmp_path: Path, notes: Path) -> None:
    todo = importer.plan(notes, persona="personal")
    assert todo.skipped == ["song.mp3"]
    with MemoryStore.open(tmp_path / "u", HashEmbedder()) as store:
        seen: list[tuple[int, int]] = []
        ids = importer.run(store, todo, lambda d, t: seen.append((d, t))).ids
        assert seen[-1] == (len(ids), len(ids))
        memories = {m.provenance: m for m in store.iterate()}
    assert set(memories) == {
        "IMG_2041.jpg",
        "dog_at_the_beach.png",
        "garden.md:7",
        "garden.md:12",
        "journal/2024-03.txt:1",
        "journal/2024-03.txt:3",
        "sunflower.jpg",
    }
    garden = memories["garden.md:7"]
    assert garden.kind is Kind.DOCUMENT_CHUNK and garden.source is Origin.IMPORT
    assert garden.text.startswith("Garden\nThe tomatoes go in the raised bed")
    sunflower = memories["sunflower.jpg"]
    assert sunflower.kind is Kind.IMAGE
    assert sunflower.text == "a photo caption: the sunflower that grew taller than the fence"
    assert sunflower.created == datetime(2023, 8, 15, 17, 45).timestamp()  # EXIF time kept
    assert (tmp_path / "u" / sunflower.media).read_bytes().endswith(b"sunflower\xff\xd9")  # type: ignore[operator]
    assert memories["dog_at_the_beach.png"].text == "dog at the beach"
    assert memories["IMG_2041.jpg"].text == "photo IMG_2041"


def test_import_jsonl(tmp_path: Path) -> None:
    with MemoryStore.open(tmp_path / "u", HashEmbedder()) as store:
        importer.run(store, importer.plan(DATA / "memory_import.jsonl", persona="personal"))
        by_text = {m.text: m for m in store.iterate()}
    car = by_text["The car insurance renews on the 3rd of June"]
    assert car.created == datetime(2024, 5, 1, 9, 0).timestamp()
    standup = by_text["Team standup moved to 9:15"]
    assert (standup.persona, standup.visibility, standup.source) == (
        "work",
        Visibility.SHARED,
        Origin.WEB,
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("latin1.txt", "caf\xe9 notes".encode("latin-1"), "not UTF-8"),
        ("garbage.md", bytes(range(256)) * 10, "not UTF-8"),
        ("zeros.txt", b"\x00" * 500, "binary"),
        ("bad.jsonl", b'{"text": "ok"}\n{"text": \n', "bad.jsonl:2: not valid JSON"),
        ("notext.jsonl", b'{"kind": "note"}\n', 'needs a "text" string'),
        ("badkind.jsonl", b'{"text": "x", "kind": "poem"}\n', "notext|poem"),
        ("badpersona.jsonl", b'{"text": "x", "persona": "../etc"}\n', "invalid persona"),
        ("badtime.jsonl", b'{"text": "x", "created": "last tuesday"}\n', "ISO 8601"),
        ("empty.jsonl", b'{"text": "   "}\n', "empty"),
        # Times that break listings, and values of the wrong shape: one line, no traceback.
        (
            "inf.jsonl",
            b'{"text": "x"}\n{"text": "x", "created": Infinity}\n',
            r'inf\.jsonl:2: "created" is inf:',
        ),
        (
            "huge.jsonl",
            b'{"text": "x", "created": 1e300}\n',
            r'huge\.jsonl:1: "created" is 1e\+300: a time must lie between 1970-01-01 and tomorrow',
        ),
        ("nan.jsonl", b'{"text": "x", "valid_from": NaN}\n', '"valid_from" is nan'),
        ("early.jsonl", b'{"text": "x", "created": -1}\n', '"created" is -1'),
        (
            "late.jsonl",
            b'{"text": "x", "valid_to": "9999-12-31"}\n',
            "\"valid_to\" is '9999-12-31'",
        ),
        ("year1.jsonl", b'{"text": "x", "created": "0001-01-01"}\n', "\"created\" is '0001-01-01'"),
        (
            "digits.jsonl",
            b'{"text": "x", "created": 1' + b"0" * 400 + b"}\n",
            r'"created" is 10{36}\.\.\.',
        ),
        (
            "objtime.jsonl",
            b'{"text": "x", "created": {"at": 1}}\n',
            "must be unix seconds or an ISO 8601 time, not an object",
        ),
        ("objtext.jsonl", b'{"text": {"en": "x"}}\n', 'needs a "text" string'),
        (
            "listpersona.jsonl",
            b'{"text": "x", "persona": ["work"]}\n',
            '"persona" must be a string, not a list',
        ),
        (
            "objkind.jsonl",
            b'{"text": "x", "kind": {"a": 1}}\n',
            '"kind" must be a string, not an object',
        ),
        (
            "objprov.jsonl",
            b'{"text": "x", "provenance": {"a": 1}}\n',
            '"provenance" must be a string',
        ),
        (
            "quotes.jsonl",
            b'{"text": "x", "quotes": 5}\n',
            '"quotes" must be a list of whole numbers',
        ),
        (
            "id.jsonl",
            b'{"text": "x", "id": "7"}\n',
            "\"id\" must be a whole number, not the string '7'",
        ),
        ("deep.jsonl", b"[" * 100_000 + b"\n", "deep.jsonl:1: not valid JSON"),
        (
            "bigint.jsonl",
            b'{"text": "x", "id": 1' + b"0" * 5000 + b"}\n",
            "bigint.jsonl:1: not valid JSON",
        ),
    ],
)
def test_a_bad_file_stops_the_import_before_anything_is_written(
    tmp_path: Path, notes: Path, name: str, content: bytes, message: str
) -> None:
    (notes / name).write_bytes(content)
    with MemoryStore.open(tmp_path / "u", HashEmbedder()) as store:
        store.remember("already here")
        with pytest.raises(UserError, match=message) as err:
            importer.plan(notes, persona="personal")
        assert "\n" not in str(err.value)
        assert store.count() == 1
    assert not (tmp_path / "u" / "media").exists()


def test_import_of_missing_or_unknown_paths(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="nothing to import"):
        importer.plan(tmp_path / "nope", "personal")
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    with pytest.raises(UserError, match=r"cannot import x\.pdf"):
        importer.plan(tmp_path / "x.pdf", "personal")
    (tmp_path / "broken.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(UserError, match="not a readable archive"):
        importer.plan(tmp_path / "broken.tar.gz", "personal")


def test_export_then_import_gives_the_same_memories_and_search_results(
    tmp_path: Path, notes: Path
) -> None:
    emb = HashEmbedder()
    queries = ["tomatoes watering", "who services the boiler", "sunflower", "dog name", "fence"]
    with MemoryStore.open(tmp_path / "a", emb, clock=lambda: 2e9) as a:
        importer.run(a, importer.plan(notes, "personal"))
        old = a.remember("My dog is called Biscuit", created=1.5e9)
        new = a.remember("My dog is called Rex", created=1.6e9)
        fix = a.remember(
            "The boiler engineer is Gareth Jones", kind=Kind.CORRECTION, corrects=old.id
        )
        a.remember("work only", persona="work")
        turn = a.remember("you said your dog is Rex", kind=Kind.CONVERSATION_TURN, sources=[new.id])
        count = archive.export(a, tmp_path / "out" / "memories.tar.gz")
        assert count == a.count()
        before = {
            q: [
                (r.memory.text, round(r.scores.fused, 9))
                for r in a.search(q, SearchFilter("personal"))
            ]
            for q in queries
        }
        before_all = [
            (m.text, m.kind, m.persona, m.created, m.valid_to, m.media) for m in a.iterate()
        ]
    with tarfile.open(tmp_path / "out" / "memories.tar.gz") as tar:
        names = tar.getnames()
    assert names[:2] == ["manifest.json", "memories.jsonl"]
    assert sum(n.startswith("media/") for n in names) == 3

    with MemoryStore.open(tmp_path / "b", emb, clock=lambda: 2e9) as b:
        todo = importer.plan(tmp_path / "out" / "memories.tar.gz", "personal", clock=b.clock)
        ids = importer.run(b, todo).ids
        after = {
            q: [
                (r.memory.text, round(r.scores.fused, 9))
                for r in b.search(q, SearchFilter("personal"))
            ]
            for q in queries
        }
        after_all = [
            (m.text, m.kind, m.persona, m.created, m.valid_to, m.media) for m in b.iterate()
        ]
        links = {m.text: m for m in b.iterate()}
        assert (
            links["The boiler engineer is Gareth Jones"].corrects
            == links["My dog is called Biscuit"].id
        )
        assert links["My dog is called Biscuit"].superseded_by is not None
        assert b.quotes() == {ids[-1]: [links["My dog is called Rex"].id]}
    assert after == before
    assert after_all == before_all
    assert fix.id and turn.id


def test_export_refuses_bad_targets(tmp_path: Path) -> None:
    with MemoryStore.open(tmp_path / "u", HashEmbedder()) as store:
        store.remember("x")
        with pytest.raises(UserError, match="folder"):
            archive.export(store, tmp_path)
        with pytest.raises(UserError, match=r"\.tar\.gz"):
            archive.export(store, tmp_path / "out.zip")


def test_jsonl_export_lines_are_valid_json(tmp_path: Path) -> None:
    with MemoryStore.open(tmp_path / "u", HashEmbedder()) as store:
        store.remember('quotes " and \\ backslashes and ünïcode')
        archive.export(store, tmp_path / "m.tgz")
    with tarfile.open(tmp_path / "m.tgz") as tar:
        stream = tar.extractfile("memories.jsonl")
        assert stream is not None
        (line,) = stream.read().decode().splitlines()
    assert json.loads(line)["text"] == 'quotes " and \\ backslashes and ünïcode'


def test_a_time_out_of_range_is_refused_on_every_way_in(tmp_path: Path) -> None:
    archive_path = tmp_path / "m.tar.gz"
    line = json.dumps({"text": "from the far future", "created": 1e300}).encode() + b"\n"
    with tarfile.open(archive_path, "w:gz") as tar:
        info = tarfile.TarInfo(importer.JSONL_NAME)
        info.size = len(line)
        tar.addfile(info, io.BytesIO(line))
    with pytest.raises(UserError, match=r"m\.tar\.gz:memories\.jsonl:1: \"created\" is 1e\+300"):
        importer.plan(archive_path, "personal")


def test_a_photo_or_file_time_that_cannot_be_right_is_not_used(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, stamp in (("old.jpg", "0001:01:01 00:00:00"), ("future.jpg", "9999:12:31 23:59:59")):
        (folder / name).write_bytes(tiny_jpeg(stamp, name.encode()))
        os.utime(folder / name, (1.6e9, 1.6e9))  # falls back to this, as without EXIF
    (folder / "note.md").write_text("a note from a file dated in the year 33658")
    os.utime(folder / "note.md", (1e12, 1e12))
    todo = importer.plan(folder, "personal")
    assert {it.provenance: it.created for it in todo.items} == {
        "old.jpg": 1.6e9,
        "future.jpg": 1.6e9,
        "note.md:1": None,  # no time to trust: saved at the time of the import
    }


def test_a_folder_import_follows_no_link_out_of_the_folder(tmp_path: Path, notes: Path) -> None:
    (tmp_path / "secret.txt").write_text("the safe code is 0451")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "diary.md").write_text("the safe code is still 0451")
    (notes / "innocent.txt").symlink_to("../secret.txt")
    (notes / "IMG_2041.txt").symlink_to(tmp_path / "secret.txt")  # a photo's caption
    (notes / "docs").symlink_to(tmp_path / "private")
    (notes / "loop.md").symlink_to("loop.md")
    (notes / "garden-link.md").symlink_to("garden.md")  # inside the folder: read
    todo = importer.plan(notes, "personal")
    assert todo.outside_links == ["IMG_2041.txt", "docs", "innocent.txt", "loop.md"]
    assert [it.provenance for it in todo.items if "0451" in it.text] == []
    provenances = {it.provenance: it.text for it in todo.items}
    assert provenances["IMG_2041.jpg"] == "photo IMG_2041"
    assert provenances["garden-link.md:7"] == provenances["garden.md:7"]


def test_the_links_skipped_are_named_on_stderr(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("the safe code is 0451")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "innocent.txt").symlink_to("../secret.txt")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "secondself",
            "--home",
            str(tmp_path / "home"),
            "import",
            str(tmp_path / "notes"),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert (
        f"skipped 1 link that leads out of {tmp_path / 'notes'} (or nowhere): innocent.txt"
        in r.stderr
    )
    assert "nothing to import" in r.stderr


class Killed(Exception):
    """What a kill -9 would leave: the batches saved so far, and no more."""


class DyingEmbedder(HashEmbedder):
    """Dies on its `dies_at`-th call, as an import killed part-way does."""

    def __init__(self, dies_at: int) -> None:
        super().__init__()
        self.dies_at = dies_at

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if self.calls + 1 >= self.dies_at:
            raise Killed
        return super().embed(texts)


def test_an_import_run_again_after_a_crash_saves_each_memory_once(tmp_path: Path) -> None:
    notes = tmp_path / "notes.jsonl"
    notes.write_text("".join(json.dumps({"text": f"note number {n}"}) + "\n" for n in range(600)))
    with MemoryStore.open(tmp_path / "u", DyingEmbedder(dies_at=2)) as store:
        with pytest.raises(Killed):
            importer.run(store, importer.plan(notes, "personal"))
        saved = store.count()
    assert 0 < saved < 600
    with MemoryStore.open(tmp_path / "u", HashEmbedder()) as store:
        done = importer.run(store, importer.plan(notes, "personal"))
        texts = [m.text for m in store.iterate()]
    assert (len(done.ids), done.already) == (600 - saved, saved)
    assert len(texts) == len(set(texts)) == 600


def test_a_folder_imported_again_adds_only_what_changed(tmp_path: Path, notes: Path) -> None:
    with MemoryStore.open(tmp_path / "u", HashEmbedder()) as store:
        first = importer.run(store, importer.plan(notes, "personal"))
        os.utime(notes / "garden.md", (1.7e9, 1.7e9))  # touched: not new
        again = importer.run(store, importer.plan(notes, "personal"))
        assert (len(again.ids), again.already) == (0, len(first.ids))
        garden = (notes / "garden.md").read_text()
        (notes / "garden.md").write_text(garden.replace("raised bed", "long bed"))
        edited = importer.run(store, importer.plan(notes, "personal"))
        assert [store.get(i).provenance for i in edited.ids] == ["garden.md:7"]
        other = importer.run(store, importer.plan(notes, "work"))  # another persona's own
        assert (len(other.ids), other.already) == (len(first.ids), 0)


def test_what_makes_an_imported_record_the_same_one(tmp_path: Path) -> None:
    def records(name: str, *lines: dict[str, str]) -> Path:
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in lines))
        return tmp_path / name

    pills = {"text": "Took my pills"}
    may_1, may_2 = {"created": "2024-05-01T09:00:00"}, {"created": "2024-05-02T09:00:00"}
    first = records("a.jsonl", pills | may_1, pills | may_2, pills, pills)
    later = records("b.jsonl", pills | may_2, pills | {"created": "2024-05-03T09:00:00"})
    with MemoryStore.open(tmp_path / "u", HashEmbedder()) as store:
        store.remember("Took my pills")  # said, not imported: not the same memory
        done = importer.run(store, importer.plan(first, "personal"))
        assert (len(done.ids), done.already) == (4, 0)  # the same note twice: saved twice
        done = importer.run(store, importer.plan(first, "personal"))
        assert (len(done.ids), done.already) == (0, 4)
        done = importer.run(store, importer.plan(later, "personal"))
        assert (len(done.ids), done.already) == (1, 1)  # a new day's is new
        assert store.count() == 6


def test_an_archive_imported_twice_or_after_a_crash_keeps_one_copy_and_its_links(
    tmp_path: Path,
) -> None:
    with MemoryStore.open(tmp_path / "a", HashEmbedder()) as a:
        old = a.remember("My dog is called Biscuit", created=1.5e9)
        new = a.remember("My dog is called Rex", created=1.6e9)
        a.remember("The dog is Biscuit, not Rex", kind=Kind.CORRECTION, corrects=new.id)
        a.remember("you said your dog is Rex", kind=Kind.CONVERSATION_TURN, sources=[new.id])
        archive.export(a, tmp_path / "m.tar.gz")
    assert old.id
    with MemoryStore.open(tmp_path / "b", HashEmbedder()) as b:
        todo = importer.plan(tmp_path / "m.tar.gz", "personal")
        b.add(todo.items)  # saved, then killed before the links were restored
        done = importer.run(b, todo)
        assert (len(done.ids), done.already) == (0, 4)
        again = importer.run(b, importer.plan(tmp_path / "m.tar.gz", "personal"))
        assert (len(again.ids), again.already) == (0, 4)
        by_text = {m.text: m for m in b.iterate()}
        assert b.count() == 4
        fix = by_text["The dog is Biscuit, not Rex"]
        assert fix.corrects == by_text["My dog is called Rex"].id
        turn = by_text["you said your dog is Rex"]
        assert b.quotes() == {turn.id: [by_text["My dog is called Rex"].id]}


def test_already_imported_memories_are_found_through_an_index(tmp_path: Path) -> None:
    with MemoryStore.open(tmp_path / "u", HashEmbedder()) as store:
        key = imported.identity(NewMemory("a note", source=Origin.IMPORT), timed=False)
        steps = store.db.execute("EXPLAIN QUERY PLAN " + imported.LOOKUP, asdict(key)).fetchall()
    assert "USING INDEX memories_imported" in " ".join(str(step) for step in steps)
