"""How much one import may read, counted as it reads: bytes, lines, files and unpacking."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from secondself.core.errors import Stage, UserError
from secondself.memory import media, validate

MiB = 1024 * 1024
CHUNK = 64 * 1024
MIN_PACKED = 64 * 1024  # an archive is allowed to unpack to `ratio` times at least this


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Limits:
    """Past any of these an import stops with a one-line error, before anything is saved."""

    file_bytes: int = 50 * MiB  # a notes file, a photo, a JSONL file or archive member
    media_bytes: int = media.MAX_BYTES  # a media member of an archive: what the store takes
    line_bytes: int = MiB  # a JSONL line: room for the longest memory, escaped
    total_bytes: int = 1024 * MiB  # all one import reads: it is held in memory until saved
    members: int = 50_000  # files in a folder, members in an archive
    ratio: int = 100  # how many times its own size an archive may unpack to


LIMITS = Limits()


class Budget:
    """One import's reading so far, against its limits.

    Sizes are checked twice: as declared (file sizes, archive headers) before anything is
    read, so a bomb is refused at its header; and as read, so a header that lies or a file
    that grows is stopped after at most one chunk more than the limit.
    """

    def __init__(self, limits: Limits = LIMITS, packed: int | None = None) -> None:
        self.limits = limits
        self.packed = packed  # the archive's size on disk, for the unpacking ratio
        self.members = 0
        self.declared = 0
        self.read = 0

    def member(self, where: str) -> None:
        """Count one more file or archive member."""
        self.members += 1
        if self.members > self.limits.members:
            raise too_many(where, self.limits.members)

    def declare(self, size: int, limit: int, where: str) -> None:
        """A file or member of `size` bytes is coming (its limit is `limit`)."""
        if size > limit:
            raise too_big(where, limit)
        self.declared += size
        self._check(self.declared, where)

    def take(self, size: int, where: str) -> None:
        """`size` more bytes were read."""
        self.read += size
        self._check(self.read, where)

    def _check(self, total: int, where: str) -> None:
        if total > self.limits.total_bytes:
            raise UserError(
                "import-too-big",
                f"{where}: the import is over {self.limits.total_bytes:,} bytes in all, the "
                "limit; import it in parts (what is already imported is skipped); "
                "nothing was imported",
                Stage.MEMORY,
            )
        if self.packed is not None and total > self.limits.ratio * max(self.packed, MIN_PACKED):
            raise UserError(
                "import-bomb",
                f"{where} unpacks to over {self.limits.ratio} times the archive's size "
                "(a compression bomb?); nothing was imported",
                Stage.MEMORY,
            )


def too_many(where: str, limit: int) -> UserError:
    return UserError(
        "import-too-many",
        f"{where} holds over {limit:,} files, the import limit; import it in parts "
        "(what is already imported is skipped); nothing was imported",
        Stage.MEMORY,
    )


def too_big(where: str, limit: int) -> UserError:
    return UserError(
        "import-too-big",
        f"{where} is over {limit:,} bytes, the import limit for one file; nothing was imported",
        Stage.MEMORY,
    )


def read_all(stream: Readable, limit: int, where: str, budget: Budget) -> bytes:
    """Every byte of `stream`, stopping once it is over `limit` or the budget."""
    chunks: list[bytes] = []
    size = 0
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise too_big(where, limit)
        budget.take(len(chunk), where)
        chunks.append(chunk)
    return b"".join(chunks)


def lines(stream: Readable, where: str, budget: Budget) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of a JSONL stream; the stream and each line within the limits."""
    limits = budget.limits
    pending = b""
    size = 0
    number = 0
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        if size > limits.file_bytes:
            raise too_big(where, limits.file_bytes)
        budget.take(len(chunk), where)
        *complete, pending = (pending + chunk).split(b"\n")
        for line in complete:
            number += 1
            yield number, _within_line_limit(line, f"{where}:{number}", limits.line_bytes)
        _within_line_limit(pending, f"{where}:{number + 1}", limits.line_bytes)
    if pending:
        yield number + 1, pending


def _within_line_limit(line: bytes, where: str, limit: int) -> bytes:
    if len(line) > limit:
        raise UserError(
            "import-line-too-long",
            f"{where}: the line is over {limit:,} bytes, the import limit for one line "
            f"(a memory is at most {validate.MAX_CHARS:,} characters); nothing was imported",
            Stage.MEMORY,
        )
    return line
