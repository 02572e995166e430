"""Reading memories in: folders of notes and photos, JSONL files, exported archives.

Everything is read and checked first (`plan`), then saved (`run`): a bad file stops the
import with a one-line error naming it, before anything is written.
"""

from __future__ import annotations

import json
import re
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from secondself.core.errors import Stage, UserError
from secondself.core.names import check_name
from secondself.memory import exif, validate
from secondself.memory.media import IMAGE_EXTS
from secondself.memory.model import Kind, MediaInput, NewMemory, Origin, Visibility
from secondself.memory.progress import Progress, silent
from secondself.memory.store import MemoryStore

NOTE_EXTS = frozenset({".md", ".markdown", ".txt", ".text"})
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
MAX_CHUNK_CHARS = 1500
MAX_FILE_BYTES = 50 * 1024 * 1024
JSONL_NAME = "memories.jsonl"
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_CAMERA_NAME = re.compile(r"^(img|dsc|dscn|pxl|photo|image|mvimg|p)[_-]?\d", re.IGNORECASE)


@dataclass
class ImportPlan:
    items: list[NewMemory] = field(default_factory=list)
    # For JSONL/archives: the record ids, so corrections, supersede links and quotes
    # between imported memories can be restored after the new ids are known.
    record_ids: list[int | None] = field(default_factory=list)
    corrects: list[int | None] = field(default_factory=list)
    superseded_by: list[int | None] = field(default_factory=list)
    quotes: list[list[int]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def append(self, item: NewMemory, record: dict[str, Any] | None = None) -> None:
        self.items.append(item)
        record = record or {}
        self.record_ids.append(_opt_int(record.get("id")))
        self.corrects.append(_opt_int(record.get("corrects")))
        self.superseded_by.append(_opt_int(record.get("superseded_by")))
        self.quotes.append([int(q) for q in record.get("quotes", []) if isinstance(q, int)])


def plan(path: Path, persona: str) -> ImportPlan:
    """Read and check everything under `path` (folder, notes file, JSONL or archive)."""
    if not path.exists():
        raise UserError("import-missing", f"nothing to import at {path}", Stage.MEMORY)
    result = ImportPlan()
    if path.is_dir():
        _plan_folder(path, persona, result)
    elif path.name.lower().endswith(ARCHIVE_SUFFIXES):
        _plan_archive(path, persona, result)
    elif path.suffix.lower() == ".jsonl":
        _plan_jsonl(_read(path), str(path), persona, result, media=None)
    elif path.suffix.lower() in NOTE_EXTS:
        _plan_notes(path, path.name, persona, result)
    elif path.suffix.lower().lstrip(".") in IMAGE_EXTS:
        _plan_photo(path, path.name, persona, result)
    else:
        raise UserError(
            "import-unknown-type",
            f"cannot import {path.name}: expected a folder, .md/.txt notes, a photo, "
            ".jsonl or an exported archive (.tar.gz/.zip)",
            Stage.MEMORY,
        )
    return result


def run(store: MemoryStore, todo: ImportPlan, progress: Progress = silent) -> list[int]:
    """Save a checked plan; returns the new ids, in plan order."""
    ids = store.add(todo.items, progress=progress)
    by_record = {r: new for r, new in zip(todo.record_ids, ids, strict=True) if r is not None}
    for new, corr, sup in zip(ids, todo.corrects, todo.superseded_by, strict=True):
        c, s = by_record.get(corr) if corr else None, by_record.get(sup) if sup else None
        if c is not None or s is not None:
            store.set_links(new, c, s)
    for new, quoted in zip(ids, todo.quotes, strict=True):
        mapped = [by_record[q] for q in quoted if q in by_record]
        if mapped:
            store.link_sources(new, mapped)
    return ids


# --- folders, notes, photos -------------------------------------------------------------


def _plan_folder(root: Path, persona: str, result: ImportPlan) -> None:
    files = sorted(p for p in root.rglob("*") if p.is_file() and not _hidden(p, root))
    photos = {p for p in files if p.suffix.lower().lstrip(".") in IMAGE_EXTS}
    photo_stems = {p.with_suffix("") for p in photos}
    for path in files:
        rel = path.relative_to(root).as_posix()
        ext = path.suffix.lower()
        if ext.lstrip(".") in IMAGE_EXTS:
            _plan_photo(path, rel, persona, result)
        elif ext == ".txt" and path.with_suffix("") in photo_stems | photos:
            continue  # a photo's caption, read with the photo
        elif ext in NOTE_EXTS:
            _plan_notes(path, rel, persona, result)
        elif ext == ".jsonl":
            _plan_jsonl(_read(path), rel, persona, result, media=None)
        else:
            result.skipped.append(rel)


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _read(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise UserError(
            "import-too-big",
            f"{path} is {size:,} bytes, over the import limit of {MAX_FILE_BYTES:,}; "
            "nothing was imported",
            Stage.MEMORY,
        )
    return path.read_bytes()


def _plan_notes(path: Path, rel: str, persona: str, result: ImportPlan) -> None:
    text = validate.decode_text(_read(path), rel)
    created = path.stat().st_mtime
    for line, chunk in chunk_markdown(text):
        result.append(
            NewMemory(
                text=chunk,
                kind=Kind.DOCUMENT_CHUNK,
                persona=persona,
                source=Origin.IMPORT,
                provenance=f"{rel}:{line}",
                created=created,
                check_supersede=False,
            )
        )


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


def _plan_photo(path: Path, rel: str, persona: str, result: ImportPlan) -> None:
    data = _read(path)
    caption = caption_for(path)
    taken = exif.taken_at(data)
    created = taken.timestamp() if taken is not None else path.stat().st_mtime
    result.append(
        NewMemory(
            text=validate.clean_text(caption, "caption"),
            kind=Kind.IMAGE,
            persona=persona,
            source=Origin.IMPORT,
            provenance=rel,
            created=created,
            media=MediaInput(data, path.suffix.lower().lstrip(".")),
            check_supersede=False,
        )
    )


def caption_for(path: Path) -> str:
    """A sidecar file's text (photo.txt or photo.jpg.txt), else words from the file name."""
    for sidecar in (path.with_suffix(".txt"), path.with_name(path.name + ".txt")):
        if sidecar.is_file():
            text = validate.decode_text(_read(sidecar), str(sidecar)).strip()
            if text:
                return text
    stem = path.stem
    if _CAMERA_NAME.match(stem):
        return f"photo {stem}"
    words = re.sub(r"[_\-.]+", " ", stem).strip()
    return words or f"photo {path.name}"


# --- JSONL and archives ------------------------------------------------------------------

MediaReader = Callable[[str], bytes]


def _plan_jsonl(
    data: bytes, where: str, persona: str, result: ImportPlan, media: MediaReader | None
) -> None:
    text = validate.decode_text(data, where)
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(
                "import-bad-json", f"{where}:{n}: not valid JSON ({exc.msg})", Stage.MEMORY
            ) from None
        if not isinstance(record, dict):
            raise UserError("import-bad-json", f"{where}:{n}: expected a JSON object", Stage.MEMORY)
        try:
            item = _record_to_item(record, persona, media, archived=media is not None)
        except UserError as exc:
            raise UserError(exc.code, f"{where}:{n}: {exc.message}", Stage.MEMORY) from None
        except (ValueError, TypeError, KeyError) as exc:
            raise UserError("import-bad-record", f"{where}:{n}: {exc}", Stage.MEMORY) from None
        result.append(item, record)


def _record_to_item(
    record: dict[str, Any], persona: str, media: MediaReader | None, archived: bool
) -> NewMemory:
    text = record.get("text")
    if not isinstance(text, str):
        raise UserError("import-bad-record", 'a memory needs a "text" string', Stage.MEMORY)
    kind = Kind(record.get("kind", Kind.NOTE))
    media_input = None
    if record.get("media"):
        if media is None:
            raise UserError(
                "import-bad-record", '"media" is only read from an exported archive', Stage.MEMORY
            )
        name = str(record["media"])
        media_input = MediaInput(media(name), Path(name).suffix.lstrip("."))
    thread, seq = validate.thread_position(record.get("thread"), record.get("seq"))
    return NewMemory(
        text=validate.clean_text(text),
        kind=kind,
        persona=check_name("persona", str(record.get("persona", persona))),
        visibility=Visibility(record.get("visibility", Visibility.PRIVATE)),
        source=Origin(record.get("source", Origin.IMPORT)),
        provenance=str(record.get("provenance", "")),
        created=_time(record.get("created")),
        valid_from=_time(record.get("valid_from")),
        valid_to=_time(record.get("valid_to")),
        media=media_input,
        # Archives carry their own supersede history; plain JSONL facts are checked.
        check_supersede=not archived and "valid_to" not in record,
        thread=thread,  # a turn of a conversation: its thread and position (context.py)
        seq=seq,
    )


def _time(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            raise ValueError(f"not an ISO 8601 time: {value!r}") from None
    raise ValueError(f"not a time: {value!r}")


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _plan_archive(path: Path, persona: str, result: ImportPlan) -> None:
    name = path.name.lower()
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                members = set(zf.namelist())

                def read_zip(member: str) -> bytes:
                    if member not in members:
                        raise UserError(
                            "import-bad-archive", f"{path} lacks {member}", Stage.MEMORY
                        )
                    return zf.read(member)

                _plan_jsonl(
                    read_zip(JSONL_NAME),
                    f"{path.name}:{JSONL_NAME}",
                    persona,
                    result,
                    media=read_zip,
                )
            return
        with tarfile.open(path) as tf:

            def read_tar(member: str) -> bytes:
                try:
                    info = tf.getmember(member)
                except KeyError:
                    raise UserError(
                        "import-bad-archive", f"{path} lacks {member}", Stage.MEMORY
                    ) from None
                stream = tf.extractfile(info) if info.isfile() else None
                if stream is None:
                    raise UserError(
                        "import-bad-archive", f"{path}: {member} is not a file", Stage.MEMORY
                    )
                return stream.read()

            _plan_jsonl(
                read_tar(JSONL_NAME), f"{path.name}:{JSONL_NAME}", persona, result, media=read_tar
            )
    except (
        tarfile.TarError,
        zipfile.BadZipFile,
        EOFError,
        OSError,
    ) as exc:
        raise UserError(
            "import-bad-archive", f"{path} is not a readable archive: {exc}", Stage.MEMORY
        ) from None
