"""Export: a user's whole memory as one .tar.gz: memories.jsonl, the media files, a manifest.

`secondself import` reads it back (importer.py, unpack.py) to the same memories and search results.
The JSONL is streamed into the archive (two passes: size, then bytes) so a large memory
never needs to fit in RAM, and no temporary copy is written outside the target folder.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from secondself.core.errors import Stage, UserError
from secondself.memory.model import Memory
from secondself.memory.progress import Progress, silent
from secondself.memory.store import MemoryStore
from secondself.memory.unpack import JSONL_NAME

FORMAT = "secondself-memories"
VERSION = 1


def record(memory: Memory, quotes: list[int]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": memory.id,
        "kind": str(memory.kind),
        "text": memory.text,
        "persona": memory.persona,
        "visibility": str(memory.visibility),
        "created": memory.created,
        "valid_from": memory.valid_from,
        "valid_to": memory.valid_to,
        "source": str(memory.source),
        "provenance": memory.provenance,
    }
    if memory.media:
        data["media"] = memory.media
    if memory.corrects is not None:
        data["corrects"] = memory.corrects
    if memory.superseded_by is not None:
        data["superseded_by"] = memory.superseded_by
    if quotes:
        data["quotes"] = quotes
    if memory.thread is not None:
        data["thread"], data["seq"] = memory.thread, memory.seq
    return data


class _LinesReader(io.RawIOBase):
    """A file object over a stream of byte strings (tarfile reads `size` bytes from it)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                break
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


def export(store: MemoryStore, dest: Path, progress: Progress = silent) -> int:
    """Write every memory of the user (all personas) to `dest`; returns how many."""
    if dest.is_dir():
        raise UserError("export-is-folder", f"{dest} is a folder: give a file name", Stage.MEMORY)
    if not dest.name.endswith((".tar.gz", ".tgz")):
        raise UserError("export-name", f"export to a .tar.gz file (got {dest.name})", Stage.MEMORY)
    with store.read_transaction():  # the two passes must see the same memories
        return _export(store, dest, progress)


def _export(store: MemoryStore, dest: Path, progress: Progress) -> int:
    quotes = store.quotes()
    total = store.count()

    def lines() -> Iterator[bytes]:
        for n, memory in enumerate(store.iterate(), 1):
            line = json.dumps(record(memory, quotes.get(memory.id, [])), ensure_ascii=False)
            yield line.encode("utf-8") + b"\n"
            progress(n, total)

    size = sum(len(chunk) for chunk in lines())  # first pass: the member size tar needs
    media = sorted({m.media for m in store.iterate() if m.media})
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            manifest = json.dumps(
                {"format": FORMAT, "version": VERSION, "count": total, "exported": time.time()}
            ).encode()
            _add(tar, "manifest.json", len(manifest), io.BytesIO(manifest))
            _add(tar, JSONL_NAME, size, _LinesReader(lines()))
            for rel in media:
                path = store.user_dir / rel
                if path.is_file():
                    tar.add(str(path), arcname=rel, recursive=False)
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return total


def _add(tar: tarfile.TarFile, name: str, size: int, stream: io.RawIOBase | io.BytesIO) -> None:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(time.time())
    info.mode = 0o600
    tar.addfile(info, stream)
