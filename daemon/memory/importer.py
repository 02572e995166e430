"""Reading memories in: folders of notes and photos, JSONL files, exported archives.

Everything is read and checked first (`plan`), then saved (`run`): a bad file stops the
import with a one-line error naming it, before anything is written. How much one import
may read is limited (limits.py); links out of a folder are not followed; and `run` skips
what an earlier run of the same import saved, so running it again after a crash is safe.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from secondself.core.errors import Stage, UserError
from secondself.memory import exif, imported, records, validate
from secondself.memory.imported import Identity
from secondself.memory.limits import LIMITS, Budget, Limits, lines, read_all
from secondself.memory.media import IMAGE_EXTS
from secondself.memory.model import Kind, MediaInput, NewMemory, Origin
from secondself.memory.printable import printable
from secondself.memory.progress import Progress, silent
from secondself.memory.records import NO_LINKS, Links, Record
from secondself.memory.store import MemoryStore
from secondself.memory.unpack import JSONL_NAME, open_archive
from secondself.memory.write import Clock

NOTE_EXTS = frozenset({".md", ".markdown", ".txt", ".text"})
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
MAX_CHUNK_CHARS = 1500
CAPTION_BYTES = 4 * validate.MAX_CHARS  # the longest caption, in UTF-8
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_CAMERA_NAME = re.compile(r"^(img|dsc|dscn|pxl|photo|image|mvimg|p)[_-]?\d", re.IGNORECASE)


@dataclass
class ImportPlan:
    items: list[NewMemory] = field(default_factory=list)
    identities: list[Identity] = field(default_factory=list)  # to find them once saved
    # For JSONL/archives: the record ids, so corrections, supersede links and quotes
    # between imported memories can be restored after the new ids are known.
    links: list[Links] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files of kinds that are not imported
    outside_links: list[str] = field(default_factory=list)  # links out of it (or to nothing)

    def append(self, item: NewMemory, links: Links = NO_LINKS, timed: bool = False) -> None:
        self.identities.append(imported.identity(item, timed))
        self.items.append(item)
        self.links.append(links)


@dataclass(frozen=True, slots=True)
class Imported:
    ids: list[int]  # the memories saved now, in plan order
    already: int  # planned memories an earlier run of the same import had saved


def plan(path: Path, persona: str, limits: Limits = LIMITS, clock: Clock = time.time) -> ImportPlan:
    """Read and check everything under `path` (folder, notes file, JSONL or archive).

    `clock`: the store's; no memory may be dated more than a day after it says now.
    """
    if not path.exists():
        raise UserError(
            "import-missing", f"nothing to import at {printable(str(path))}", Stage.MEMORY
        )
    reader = _Reader(persona, Budget(limits), clock())
    if path.is_dir():
        reader.folder(path)
        return reader.result
    suffix = path.suffix.lower()
    if path.name.lower().endswith(ARCHIVE_SUFFIXES):
        reader.archive(path)
    elif suffix == ".jsonl" or suffix in NOTE_EXTS or suffix.lstrip(".") in IMAGE_EXTS:
        reader.budget.declare(path.stat().st_size, limits.file_bytes, printable(str(path)))
        reader.file(path, printable(path.name if suffix != ".jsonl" else str(path)))
    else:
        raise UserError(
            "import-unknown-type",
            f"cannot import {printable(path.name)}: expected a folder, .md/.txt notes, a photo, "
            ".jsonl or an exported archive (.tar.gz/.zip)",
            Stage.MEMORY,
        )
    return reader.result


def run(store: MemoryStore, todo: ImportPlan, progress: Progress = silent) -> Imported:
    """Save a checked plan, less what an earlier run of it saved; links restored."""
    earlier = imported.already(store.db, todo.identities)
    new = store.add(
        [item for item, old in zip(todo.items, earlier, strict=True) if old is None],
        progress=progress,
    )
    fresh = iter(new)
    ids = [next(fresh) if old is None else old for old in earlier]
    _restore_links(store, todo.links, ids, earlier)
    return Imported(ids=new, already=len(ids) - len(new))


def _restore_links(
    store: MemoryStore, links: list[Links], ids: list[int], earlier: list[int | None]
) -> None:
    by_record = {link.id: new for link, new in zip(links, ids, strict=True) if link.id is not None}
    for link, memory_id, old in zip(links, ids, earlier, strict=True):
        corrects = by_record.get(link.corrects) if link.corrects is not None else None
        superseded_by = (
            by_record.get(link.superseded_by) if link.superseded_by is not None else None
        )
        if corrects is not None or superseded_by is not None:
            # One an earlier run saved keeps the links it has now (set since, maybe).
            had = store.get(memory_id) if old is not None else None
            if had is None or (had.corrects, had.superseded_by) == (None, None):
                store.set_links(memory_id, corrects, superseded_by)
        quoted = [by_record[q] for q in link.quotes if q in by_record]
        if quoted:
            store.link_sources(memory_id, quoted)  # already there: left as it is


class _Reader:
    """One plan's reading: for whom, within which budget, and what it found."""

    def __init__(self, persona: str, budget: Budget, now: float) -> None:
        self.persona = persona
        self.budget = budget
        self.now = now
        self.result = ImportPlan()

    # --- folders, notes, photos ----------------------------------------------------------

    def folder(self, root: Path) -> None:
        files = self._walk(root)
        for path in files:  # every size first: a folder too big is refused before reading
            size = path.stat().st_size
            self.budget.declare(size, self.budget.limits.file_bytes, printable(str(path)))
        photos = {p for p in files if p.suffix.lower().lstrip(".") in IMAGE_EXTS}
        captions = {p.with_suffix("") for p in photos} | photos
        for path in files:
            rel = printable(path.relative_to(root).as_posix())  # its provenance
            ext = path.suffix.lower()
            if ext == ".txt" and path.with_suffix("") in captions:
                continue  # a photo's caption, read with the photo
            if ext in NOTE_EXTS or ext == ".jsonl" or ext.lstrip(".") in IMAGE_EXTS:
                self.file(path, rel, inside=root)
            else:
                self.result.skipped.append(rel)

    def _walk(self, root: Path) -> list[Path]:
        """The files under `root` to read, sorted: hidden ones left out, and links leading
        out of it skipped (and reported). A linked folder is never entered: what it holds
        inside `root` is read under its own name."""
        found: list[Path] = []
        for folder, dirs, names in os.walk(root):
            here = Path(folder)
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for path in (here / name for name in dirs + names if not name.startswith(".")):
                if path.is_symlink() and not leads_inside(path, root):
                    self.result.outside_links.append(printable(path.relative_to(root).as_posix()))
                elif path.is_file():  # not a folder, a pipe or a broken link
                    self.budget.member(printable(str(root)))
                    found.append(path)
        self.result.outside_links.sort()
        return sorted(found)

    def file(self, path: Path, where: str, inside: Path | None = None) -> None:
        """One notes file, photo or JSONL file (its size already declared)."""
        ext = path.suffix.lower()
        if ext == ".jsonl":
            with path.open("rb") as f:
                for record in self._records(lines(f, where, self.budget), where, False):
                    self.result.append(record.item, record.links, record.timed)
        elif ext.lstrip(".") in IMAGE_EXTS:
            self._photo(path, where, inside)
        else:
            self._notes(path, where)

    def _read(self, path: Path, where: str) -> bytes:
        with path.open("rb") as f:
            return read_all(f, self.budget.limits.file_bytes, where, self.budget)

    def _file_time(self, path: Path) -> float | None:
        """A file's modification time, or None (the time of saving) if it is out of range."""
        mtime = path.stat().st_mtime
        return mtime if validate.time_ok(mtime, self.now) else None

    def _notes(self, path: Path, rel: str) -> None:
        text = validate.decode_text(self._read(path, rel), rel)
        created = self._file_time(path)
        for line, chunk in chunk_markdown(text):
            self.result.append(
                NewMemory(
                    text=chunk,
                    kind=Kind.DOCUMENT_CHUNK,
                    persona=self.persona,
                    source=Origin.IMPORT,
                    provenance=f"{rel}:{line}",
                    created=created,
                    check_supersede=False,
                )
            )

    def _photo(self, path: Path, rel: str, inside: Path | None) -> None:
        data = self._read(path, rel)
        if not data:
            raise UserError("import-empty", f"{rel} is empty; nothing was imported", Stage.MEMORY)
        taken = exif.taken_time(data)
        if taken is None or not validate.time_ok(taken, self.now):
            taken = self._file_time(path)  # no EXIF time, or one that cannot be right
        self.result.append(
            NewMemory(
                text=validate.clean_text(caption_for(path, inside), "caption"),
                kind=Kind.IMAGE,
                persona=self.persona,
                source=Origin.IMPORT,
                provenance=rel,
                created=taken,
                media=MediaInput(data, path.suffix.lower().lstrip(".")),
                check_supersede=False,
            )
        )

    # --- JSONL and archives ----------------------------------------------------------------

    def _records(
        self, numbered: Iterable[tuple[int, bytes]], where: str, archived: bool
    ) -> list[Record]:
        found: list[Record] = []
        for n, line in numbered:
            record = records.parse(line, f"{where}:{n}", self.persona, archived, self.now)
            if record is not None:
                found.append(record)
        return found

    def archive(self, path: Path) -> None:
        where = f"{printable(path.name)}:{JSONL_NAME}"
        with open_archive(path, self.budget) as archive:
            found = self._records(archive.lines(JSONL_NAME), where, archived=True)
            media = archive.read({r.media for r in found if r.media is not None})
        for record in found:
            try:
                self.result.append(_with_media(record, media), record.links, record.timed)
            except UserError as exc:  # the media's name and bytes, checked now they are read
                raise UserError(exc.code, f"{record.where}: {exc.message}", Stage.MEMORY) from None


def _with_media(record: Record, media: dict[str, bytes]) -> NewMemory:
    if record.media is None:
        return record.item
    data = media[record.media]
    if not data:
        raise UserError("import-empty", f"{record.media} is empty", Stage.MEMORY)
    return replace(record.item, media=MediaInput(data, Path(record.media).suffix.lstrip(".")))


def leads_inside(path: Path, folder: Path) -> bool:
    """Whether `path`, links followed, is inside `folder` (a loop or a dead end is not)."""
    try:
        return path.resolve(strict=True).is_relative_to(folder.resolve(strict=True))
    except (OSError, RuntimeError):  # RuntimeError: a link loop
        return False


def caption_for(path: Path, inside: Path | None = None) -> str:
    """A sidecar file's text (photo.txt or photo.jpg.txt), else words from the file name.

    With `inside`, a sidecar that is a link leading out of that folder is not read.
    """
    for sidecar in (path.with_suffix(".txt"), path.with_name(path.name + ".txt")):
        if not sidecar.is_file() or (inside is not None and not leads_inside(sidecar, inside)):
            continue
        where = printable(str(sidecar))
        with sidecar.open("rb") as f:  # its own small limit: at most one memory's text
            data = read_all(f, CAPTION_BYTES, where, Budget())
        text = validate.decode_text(data, where).strip()
        if text:
            return text
    # A name's undecodable bytes and control characters are no words.
    stem = "".join(c if c.isprintable() else " " for c in path.stem)
    if _CAMERA_NAME.match(stem):
        return f"photo {stem}"
    words = re.sub(r"[_\-.]+", " ", stem).strip()
    return words or f"photo {printable(path.name)}"


# --- notes to chunks ---------------------------------------------------------------------


def chunk_markdown(text: str) -> list[tuple[int, str]]:
    """(first line, chunk) per paragraph, each under its nearest heading, long ones split."""
    chunks: list[tuple[int, str]] = []
    heading = ""
    para: list[str] = []
    start = 0
    lines = text.splitlines()
    first = 0
    if lines and lines[0].strip() == "---":  # YAML front matter: not a note
        for n in range(1, len(lines)):
            if lines[n].strip() == "---":
                first = n + 1
                break

    def flush() -> None:
        if not para:
            return
        body = "\n".join(para).strip()
        para.clear()
        for piece in _split_long(body):
            chunks.append((start, f"{heading}\n{piece}" if heading else piece))

    for n in range(first, len(lines)):
        line = lines[n]
        match = _HEADING.match(line.strip())
        if match:
            flush()
            heading = match.group(2)
            continue
        if not line.strip():
            flush()
            continue
        if not para:
            start = n + 1
        para.append(line.rstrip())
    flush()
    return chunks


def _split_long(body: str) -> Iterator[str]:
    if len(body) <= MAX_CHUNK_CHARS:
        yield body
        return
    piece = ""
    for sentence in _SENTENCE_END.split(body):
        while len(sentence) > MAX_CHUNK_CHARS:  # one enormous "sentence": cut it
            if piece:
                yield piece
                piece = ""
            yield sentence[:MAX_CHUNK_CHARS]
            sentence = sentence[MAX_CHUNK_CHARS:]
        if piece and len(piece) + 1 + len(sentence) > MAX_CHUNK_CHARS:
            yield piece
            piece = ""
        piece = f"{piece} {sentence}" if piece else sentence
    if piece:
        yield piece
