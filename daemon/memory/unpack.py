"""Import archives (.tar.gz, .tgz, .tar, .zip) read within limits.

Every header is checked (how many members, how big, how far they unpack) before any
member is read; then members are streamed, each read once, a tar's in archive order so a
packed stream is rewound at most once.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, BinaryIO, Protocol

from secondself.core.errors import Stage, UserError
from secondself.memory.limits import Budget, Readable, lines, read_all, too_many
from secondself.memory.printable import printable

JSONL_NAME = "memories.jsonl"
MAX_TAR_HEADER = 1024 * 1024  # tarfile reads a long-name or PAX header whole, as claimed
ZIP_ENTRY_BYTES = 128  # room per member in a zip's file list: zipfile holds ~430 B for each
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
_UNREADABLE = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    struct.error,
    EOFError,
    OSError,
    ValueError,
)


class Archive(Protocol):
    def lines(self, name: str) -> Iterator[tuple[int, bytes]]:
        """(line number, line) of a JSONL member, within the JSONL limits."""
        ...

    def read(self, names: Collection[str]) -> dict[str, bytes]:
        """Each named member's bytes, read once, each within the media limit."""
        ...


@contextmanager
def open_archive(path: Path, budget: Budget) -> Iterator[Archive]:
    """The archive at `path`, its headers checked; an unreadable one is a one-line error."""
    budget.packed = path.stat().st_size
    where = printable(path.name)
    try:
        with path.open("rb") as raw:
            if path.name.lower().endswith(".zip"):
                _check_zip_directory(raw, where, budget)
                with zipfile.ZipFile(raw) as zf:
                    yield _Zip(zf, where, budget)
            else:
                with (
                    _unpacked(raw) as stream,
                    tarfile.open(fileobj=_CappedReads(stream, where), mode="r:") as tar,
                ):
                    yield _Tar(tar, where, budget)
    except _UNREADABLE as exc:  # its message may quote a member's name
        raise UserError(
            "import-bad-archive",
            f"{printable(str(path))} is not a readable archive: {printable(str(exc))}",
            Stage.MEMORY,
        ) from None


def _member_limit(name: str, budget: Budget) -> int:
    return budget.limits.file_bytes if name == JSONL_NAME else budget.limits.media_bytes


def _lacks(where: str, name: str) -> UserError:
    return UserError(
        "import-bad-archive", f"{where} lacks the file {printable(name)}", Stage.MEMORY
    )


class _Tar:
    def __init__(self, tar: tarfile.TarFile, where: str, budget: Budget) -> None:
        self.tar = tar
        self.where = where
        self.budget = budget
        self.files: dict[str, tarfile.TarInfo] = {}
        # Each header is checked before tarfile seeks past its member to the next one.
        while (info := tar.next()) is not None:
            budget.member(where)
            if info.isfile():  # links, folders and devices are never read
                budget.declare(info.size, _member_limit(info.name, budget), self._at(info.name))
                self.files[info.name] = info

    def _at(self, name: str) -> str:
        return f"{self.where}:{printable(name)}"

    def _stream(self, name: str) -> Readable:
        info = self.files.get(name)
        stream = None if info is None else self.tar.extractfile(info)
        if stream is None:
            raise _lacks(self.where, name)
        return stream

    def lines(self, name: str) -> Iterator[tuple[int, bytes]]:
        yield from lines(self._stream(name), self._at(name), self.budget)

    def read(self, names: Collection[str]) -> dict[str, bytes]:
        for name in names:
            if name not in self.files:
                raise _lacks(self.where, name)
        ordered = sorted(set(names), key=lambda n: self.files[n].offset_data)
        limit = self.budget.limits.media_bytes
        return {n: read_all(self._stream(n), limit, self._at(n), self.budget) for n in ordered}


class _Zip:
    def __init__(self, zf: zipfile.ZipFile, where: str, budget: Budget) -> None:
        self.zf = zf
        self.where = where
        self.budget = budget
        self.files: dict[str, zipfile.ZipInfo] = {}
        for info in zf.infolist():
            budget.member(where)
            if not info.filename or info.is_dir():  # a nameless one is nothing to read
                continue
            at = self._at(info.filename)
            if info.flag_bits & 0x1:
                raise UserError("import-bad-archive", f"{at} is encrypted", Stage.MEMORY)
            if info.compress_type not in _ZIP_METHODS:
                raise UserError(
                    "import-bad-archive", f"{at} is packed in a way zip cannot read", Stage.MEMORY
                )
            budget.declare(info.file_size, _member_limit(info.filename, budget), at)
            self.files[info.filename] = info

    def _at(self, name: str) -> str:
        return f"{self.where}:{printable(name)}"

    def _stream(self, name: str) -> IO[bytes]:
        info = self.files.get(name)
        if info is None:
            raise _lacks(self.where, name)
        return self.zf.open(info)

    def lines(self, name: str) -> Iterator[tuple[int, bytes]]:
        with self._stream(name) as stream:
            yield from lines(stream, self._at(name), self.budget)

    def read(self, names: Collection[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        limit = self.budget.limits.media_bytes
        for name in set(names):
            with self._stream(name) as stream:
                found[name] = read_all(stream, limit, self._at(name), self.budget)
        return found


def _check_zip_directory(raw: BinaryIO, where: str, budget: Budget) -> None:
    """Refuse a zip whose file list is too long before zipfile reads all of it into memory.

    zipfile parses the whole central directory when it opens an archive; its entry count
    and size are in the end record (the zip64 one for a big archive).
    """
    size = raw.seek(0, io.SEEK_END)
    tail_size = min(size, 22 + 0xFFFF)  # the end record, then a comment of up to 64 KiB
    raw.seek(size - tail_size)
    tail = raw.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise zipfile.BadZipFile("File is not a zip file")
    entries, directory = struct.unpack_from("<HL", tail, at + 10)
    zip64 = entries == 0xFFFF or directory == 0xFFFFFFFF
    if zip64 and at >= 20 and tail[at - 20 : at - 16] == b"PK\x06\x07":
        (record_at,) = struct.unpack_from("<Q", tail, at - 12)
        raw.seek(record_at)
        record = raw.read(56)
        if len(record) == 56 and record[:4] == b"PK\x06\x06":
            entries, directory = struct.unpack_from("<QQ", record, 32)
    most = budget.limits.members
    if entries > most or directory > most * ZIP_ENTRY_BYTES:
        raise too_many(where, most)
    raw.seek(0)


class _Seekable(Protocol):
    def read(self, size: int, /) -> bytes: ...

    def seek(self, offset: int, whence: int = ..., /) -> int: ...

    def tell(self) -> int: ...


@contextmanager
def _unpacked(raw: BinaryIO) -> Iterator[_Seekable]:
    """The tar stream inside a .tar.gz (or .bz2, .xz), or the file itself if not packed."""
    magic = raw.read(6)
    raw.seek(0)
    if magic.startswith(b"\x1f\x8b"):
        with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
            yield gz
    elif magic.startswith(b"BZh"):
        with bz2.BZ2File(raw) as bz:
            yield bz
    elif magic.startswith(b"\xfd7zXZ\x00"):
        with lzma.LZMAFile(raw) as xz:
            yield xz
    else:
        yield raw


class _CappedReads:
    """A tar stream for tarfile that refuses any one read over MAX_TAR_HEADER bytes.

    Member data is read in small chunks; only a header that claims a huge size (a long
    name or PAX record of a gigabyte) asks for more, and tarfile would hold it whole.
    """

    def __init__(self, stream: _Seekable, where: str) -> None:
        self.stream = stream
        self.where = where

    def read(self, size: int = -1, /) -> bytes:
        if size < 0 or size > MAX_TAR_HEADER:
            raise UserError(
                "import-bad-archive",
                f"{self.where}: a tar header claims {size:,} bytes, over the limit of "
                f"{MAX_TAR_HEADER:,}; nothing was imported",
                Stage.MEMORY,
            )
        return self.stream.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        return self.stream.seek(offset, whence)

    def tell(self) -> int:
        return self.stream.tell()

    def write(self, data: bytes, /) -> int:
        raise io.UnsupportedOperation("an import archive is read only")

    def close(self) -> None:
        """The file under it is closed by whoever opened it."""
