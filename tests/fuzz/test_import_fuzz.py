"""The importer under generated input: JSONL records, archives (.tar.gz, .tar, .zip, whole
or damaged) and folders of notes and photos with odd names, links and sizes.

Whatever it is given, an import either refuses it with one UserError line and leaves the
data home byte for byte as it was, or saves it whole: every memory can then be listed as
standard JSON, no memory holds a word of a file outside the folder, and running the same
import again saves nothing new.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from secondself.core.errors import UserError
from secondself.memory import archive, importer
from secondself.memory.limits import Limits
from secondself.memory.model import Kind, Memory, Origin
from secondself.memory.store import MemoryStore
from tests.fuzz import strategies as fz
from tests.fuzz.home import copy_home, files, seed
from tests.memory.test_support import HashEmbedder, tiny_jpeg

pytestmark = pytest.mark.fuzz

KiB = 1024
# Small limits, so that generated files reach them.
LIMITS = Limits(
    file_bytes=64 * KiB,
    media_bytes=16 * KiB,
    line_bytes=48 * KiB,
    total_bytes=160 * KiB,
    members=24,
    ratio=100,
)
SECRET = "zqxjsecretoutside"  # in a file beside the imported folder, never to be imported


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("template") / "home"
    seed(home)
    return home


@contextmanager
def workspace(template: Path) -> Iterator[Path]:
    """A folder for one example: `home` (a copy of the seeded one) and room for inputs."""
    with tempfile.TemporaryDirectory(prefix="fuzz-import-") as folder:
        root = Path(folder)
        copy_home(template, root / "home")
        (root / "secret.txt").write_text(f"{SECRET} outside the folder\n")
        yield root


def imports_all_or_nothing(path: Path, home: Path) -> None:
    """The import's property: refused with nothing changed, or saved whole, once."""
    before = files(home)
    try:
        todo = importer.plan(path, "personal", LIMITS)
    except UserError as refused:
        event(f"refused: {refused.code}")
        assert refused.message and "\n" not in refused.message, refused.message
        assert files(home) == before
        return
    event("imported" if todo.items else "nothing to import")
    with MemoryStore.open(home / "users" / "default", HashEmbedder()) as store:
        count = store.count()
        done = importer.run(store, todo)
        assert len(done.ids) + done.already == len(todo.items)
        assert store.count() == count + len(done.ids)
        quotes = store.quotes()
        for memory in store.iterate():
            assert SECRET not in memory.text
            json.dumps(archive.record(memory, quotes.get(memory.id, [])), allow_nan=False)
        again = importer.run(store, importer.plan(path, "personal", LIMITS))
        assert again.ids == [] and again.already == len(todo.items)


# --- JSONL ---------------------------------------------------------------------------------

# Values each field of a record may rightly have; any field may instead get any value.
GOOD_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "kind": st.sampled_from([str(k) for k in Kind]),
    "persona": st.sampled_from(["personal", "work"]),
    "visibility": st.sampled_from(["private", "shared"]),
    "source": st.sampled_from([str(o) for o in Origin]),
    "provenance": fz.PLAIN,
    "created": fz.good_times(),
    "valid_from": fz.good_times(),
    "valid_to": fz.good_times(),
    "id": st.integers(1, 5),
    "corrects": st.integers(1, 5),
    "superseded_by": st.integers(1, 5),
    "quotes": st.lists(st.integers(1, 5), max_size=3),
}
ANY_FIELDS = {
    "text": fz.text() | fz.json_values(),
    "created": fz.times(),
    "valid_from": fz.times(),
    "valid_to": fz.times(),
    "persona": fz.name(),
} | {name: good | fz.json_values() for name, good in GOOD_FIELDS.items()}


def good_records(media: st.SearchStrategy[Any] | None) -> st.SearchStrategy[dict[str, Any]]:
    """A memory with every field right (`media`: the names it may take its media from)."""
    more = {} if media is None else {"media": media}
    return st.fixed_dictionaries({"text": fz.WORDS}, optional=GOOD_FIELDS | more)


def lines(media: st.SearchStrategy[Any] | None) -> st.SearchStrategy[bytes]:
    """A line of any kind: a good record, one with some fields wrong, or no record at all."""
    more = {} if media is None else {"media": media}
    mixed = st.fixed_dictionaries({}, optional={**GOOD_FIELDS, **ANY_FIELDS, **more})
    record = st.one_of(good_records(media), mixed, fz.json_values())
    return st.one_of(
        record.map(lambda r: json.dumps(r, ensure_ascii=False).encode(errors="replace")),
        st.binary(max_size=30),
        st.sampled_from([b"", b"  ", b"{", b"[]", b"\xef\xbb\xbf{}", b"[" * 3000, b"1e999"]),
    )


def jsonl(media: st.SearchStrategy[Any] | None = None) -> st.SearchStrategy[bytes]:
    """A JSONL file: mostly of good records, else of any lines; either line ending."""
    good = st.lists(
        good_records(media).map(lambda r: json.dumps(r).encode()), min_size=1, max_size=6
    )
    ending = st.sampled_from([b"\n", b"\r\n"])
    made = st.tuples(fz.mostly(good, st.lists(lines(media), max_size=6)), ending, st.booleans())
    return made.map(lambda t: t[1].join(t[0]) + (t[1] if t[2] else b""))


@given(data=jsonl())
def test_a_jsonl_file_is_imported_whole_or_refused_changing_nothing(
    template: Path, data: bytes
) -> None:
    with workspace(template) as root:
        (root / "memories.jsonl").write_bytes(data)
        imports_all_or_nothing(root / "memories.jsonl", root / "home")


# --- archives ------------------------------------------------------------------------------

MEMBER_NAMES = st.one_of(
    st.sampled_from(
        "media/ab/photo.jpg media/cd/x.png manifest.json ../evil.jpg /abs.jpg media/ "
        "a/../../b.jpg media/noext media/UP.JPG media/x.tar.gz".split()
    ),
    fz.text().filter(lambda n: n.strip("/")),
)
# A member is mostly a file; else a folder, a link out, a hard link, a pipe or a device.
TAR_TYPES = fz.mostly(
    st.just(tarfile.REGTYPE),
    st.sampled_from(
        [tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE, tarfile.CHRTYPE]
    ),
)
ZIP_METHODS = {
    "zip": zipfile.ZIP_STORED,
    "zip-deflated": zipfile.ZIP_DEFLATED,
    "zip-bzip2": zipfile.ZIP_BZIP2,
    "zip-lzma": zipfile.ZIP_LZMA,
}
PACKINGS = st.sampled_from(["tar.gz", "tgz", "tar", *ZIP_METHODS])
# Encrypted, data descriptor, patched data, strong encryption, UTF-8 names.
ZIP_FLAGS = fz.mostly(st.just(0), st.sampled_from([0x1, 0x8, 0x20, 0x40, 0x800]))
DAMAGE = fz.mostly(st.just("none"), st.sampled_from(["cut", "flip"]))

Member = tuple[str, bytes, bytes, int]  # name, tar type, bytes, zip flag bits


@st.composite
def archives(draw: st.DrawFn) -> tuple[str, bytes]:
    """(file name, bytes) of an archive: a JSONL member that may name the media members,
    odd members beside it, packed in one of the ways an import reads; sometimes damaged."""
    content = st.binary(max_size=64) | st.just(tiny_jpeg("2024:01:02 03:04:05"))
    media = draw(st.dictionaries(MEMBER_NAMES, content, max_size=3))
    named = fz.mostly(st.sampled_from(sorted(media)), MEMBER_NAMES) if media else MEMBER_NAMES
    members: list[Member] = [(importer.JSONL_NAME, draw(TAR_TYPES), draw(jsonl(named)), 0)]
    members += [(name, draw(TAR_TYPES), data, draw(ZIP_FLAGS)) for name, data in media.items()]
    members = draw(st.permutations(members))
    packing = draw(PACKINGS)
    if packing in ZIP_METHODS:
        name, packed = "export.zip", _zip(members, ZIP_METHODS[packing])
    else:
        name, packed = f"export.{packing}", _tar(members, packing)
    damage = draw(DAMAGE)
    at = draw(st.integers(0, len(packed) - 1))
    if damage == "cut":
        packed = packed[:at]
    elif damage == "flip":
        packed = packed[:at] + bytes([packed[at] ^ 0xFF]) + packed[at + 1 :]
    return name, packed


def _tar(members: list[Member], packing: str) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz" if "gz" in packing else "w:") as tar:
        for name, kind, data, _flags in members:
            # Lone surrogates as the bytes they stand for: a name that is not UTF-8.
            info = tarfile.TarInfo(os.fsdecode(name.encode(errors="surrogatepass")))
            info.type = kind
            if info.type in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = "../secret.txt"
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return out.getvalue()


def _zip(members: list[Member], method: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as zf:
        for name, kind, data, flags in members:
            info = zipfile.ZipInfo(name.encode(errors="replace").decode())
            info.compress_type = method
            info.flag_bits |= flags
            if kind == tarfile.SYMTYPE:
                info.external_attr = 0o120777 << 16  # a link, as Info-ZIP stores one
            zf.writestr(info, data)
    return out.getvalue()


@given(made=archives())
def test_an_archive_is_imported_whole_or_refused_changing_nothing(
    template: Path, made: tuple[str, bytes]
) -> None:
    name, data = made
    with workspace(template) as root:
        (root / name).write_bytes(data)
        imports_all_or_nothing(root / name, root / "home")


def saved(store: MemoryStore) -> list[tuple[Any, ...]]:
    """What a store holds, apart from the ids it gave: every memory, with what it quotes,
    corrects and is superseded by named by their text."""
    texts = {m.id: m.text for m in store.iterate()}
    quotes = store.quotes()

    def held(m: Memory) -> tuple[Any, ...]:
        linked = (texts.get(m.corrects or 0), texts.get(m.superseded_by or 0))
        quoted = sorted(texts[q] for q in quotes.get(m.id, []))
        return (m.text, m.kind, m.persona, m.visibility, m.created, m.valid_from, m.valid_to,
                m.source, m.provenance, m.media, *linked, quoted)  # fmt: skip

    return sorted(held(m) for m in store.iterate())


def as_zip(tar_gz: Path) -> Path:
    """The same archive repacked as a .zip (deflated), as a user's own tool might."""
    repacked = tar_gz.with_name("export.zip")
    with tarfile.open(tar_gz) as tar, zipfile.ZipFile(repacked, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in tar.getmembers():
            stream = tar.extractfile(info)
            assert stream is not None
            zf.writestr(info.name, stream.read())
    return repacked


@given(data=jsonl(), zipped=st.booleans())
def test_an_export_imports_back_to_the_same_memories(
    template: Path, data: bytes, zipped: bool
) -> None:
    with workspace(template) as root:
        (root / "memories.jsonl").write_bytes(data)
        with MemoryStore.open(root / "home" / "users" / "default", HashEmbedder()) as store:
            try:
                importer.run(store, importer.plan(root / "memories.jsonl", "personal", LIMITS))
            except UserError:
                event("exported the seeded memories only")
            archive.export(store, root / "export.tar.gz")
            exported = saved(store)
        path = as_zip(root / "export.tar.gz") if zipped else root / "export.tar.gz"
        with MemoryStore.open(root / "home" / "users" / "copy", HashEmbedder()) as copy:
            importer.run(copy, importer.plan(path, "personal"))
            assert saved(copy) == exported


# --- folders of notes and photos -----------------------------------------------------------

NAMES = st.one_of(
    fz.PLAIN.map(str.encode),
    st.sampled_from(
        [b"a b", b"-x", b"new\nline", b"\xff\xfe", b"caf\xc3\xa9", b"\x1b[2J", b"x" * 200]
    ),
    st.binary(min_size=1, max_size=12).filter(lambda b: b"/" not in b and b"\0" not in b),
).filter(lambda b: b not in (b".", b".."))
# What a folder of notes holds; files of other kinds (.bin, no extension) are skipped.
GOOD_EXTS = [b".md", b".txt", b".MD", b".markdown", b".text", b".jpg", b".PNG", b".bin", b""]
GOOD_TEXT = st.one_of(
    fz.WORDS.map(str.encode),
    st.sampled_from(
        [b"# Title\n\nA note.\n\n## Part\nMore.", b"---\nx: 1\n---\nbody", b"\xef\xbb\xbfbom"]
    ),
    st.integers(1, 3).map(lambda n: b"A long sentence here. " * (120 * n)),
)
# Links in, out, to nothing and to themselves, and pipes: never read, never a refusal.
GOOD_KINDS = (
    ["file"] * 8 + ["folder"] * 2 + ["link-in", "link-out", "link-dangling", "link-loop", "fifo"]
)
# What may make a folder unfit to import: binary or JSONL "notes", files over the limit.
ANY_TEXT = st.one_of(
    GOOD_TEXT,
    fz.text().map(lambda t: t.encode(errors="surrogatepass")),
    st.binary(max_size=40),
    st.just(tiny_jpeg("0001:01:01 00:00:00")),
    jsonl(),
)
ANY_EXTS = [*GOOD_EXTS, b".jsonl", b".md.txt", b".jpg.txt"]
Entry = tuple[bytes, str, bytes]  # path under the folder, kind, bytes


@st.composite
def folders(draw: st.DrawFn) -> list[Entry]:
    """The entries of a folder to import, in making order: odd names, links and pipes
    everywhere, and in one folder in four, files that cannot be imported."""
    unfit = draw(st.integers(0, 3)) == 0
    texts = ANY_TEXT if unfit else GOOD_TEXT
    exts = st.sampled_from(ANY_EXTS if unfit else GOOD_EXTS)
    kinds = st.sampled_from([*GOOD_KINDS, "big"] if unfit else GOOD_KINDS)
    made: list[Entry] = []
    folders_made = [b""]
    for _ in range(draw(st.integers(1, 8))):
        parent = draw(st.sampled_from(folders_made))
        hidden = b"." if draw(st.integers(0, 9)) == 0 else b""
        rel = os.path.join(parent, hidden + draw(NAMES) + draw(exts))
        if any(rel == m[0] for m in made):
            continue
        kind = draw(kinds)
        made.append((rel, kind, draw(texts) if kind == "file" else b""))
        if kind == "folder":
            folders_made.append(rel)
    return made


def make_folder(root: Path, entries: list[Entry]) -> Path:
    top = os.fsencode(root / "notes")
    os.mkdir(top)
    files_made = [os.path.join(top, e[0]) for e in entries if e[1] == "file"]
    for rel, kind, data in entries:
        path = os.path.join(top, rel)
        if kind == "file":
            with open(path, "wb") as f:
                f.write(data)
        elif kind == "big":  # over the limit for one file, and sparse: no time to write
            with open(path, "wb") as f:
                f.truncate(LIMITS.file_bytes + 1)
        elif kind == "folder":
            os.mkdir(path)
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "link-in" and files_made:
            os.symlink(files_made[0], path)
        elif kind == "link-out":
            os.symlink(os.fsencode(root / "secret.txt"), path)
        elif kind == "link-loop":
            os.symlink(path, path)
        else:  # a link to nothing (and a link in, when there is no file to link to)
            os.symlink(b"/nonexistent/x.md", path)
    return root / "notes"


@given(entries=folders())
def test_a_folder_is_imported_whole_or_refused_changing_nothing(
    template: Path, entries: list[Entry]
) -> None:
    with workspace(template) as root:
        folder = make_folder(root, entries)
        imports_all_or_nothing(folder, root / "home")
