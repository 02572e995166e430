"""Import (notes, photos, JSONL, archives) and export, with the fake embedder."""

from __future__ import annotations

import json
import shutil
import tarfile
from datetime import datetime
from pathlib import Path

import pytest

from secondself.core.errors import UserError
from secondself.memory import archive, importer
from secondself.memory.model import Kind, Origin, SearchFilter, Visibility
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
        ids = importer.run(store, todo, lambda d, t: seen.append((d, t)))
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
        ids = importer.run(b, importer.plan(tmp_path / "out" / "memories.tar.gz", "personal"))
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
