"""Checks on what a user asks to remember: a clear one-line error before anything changes."""

from __future__ import annotations

import math

from secondself.core.errors import Stage, UserError

MAX_CHARS = 32_000  # a memory is a note; long documents are imported, which splits them
EARLIEST = 0.0  # 1970-01-01: listings and the page show times from there
AHEAD = 86_400.0  # a day past now: clocks and time zones differ; further is a mistake


def check_unicode(text: str, what: str = "memory") -> str:
    """`text` if UTF-8 can hold it; UserError for a lone surrogate (JSON's "\\ud800", or bytes
    of a command line that are not UTF-8), which no store, index or embedder can take."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UserError(
            "text-not-unicode",
            f"the {what} text is not valid Unicode (a lone surrogate at character {exc.start})",
            Stage.MEMORY,
        ) from None
    return text


def clean_text(text: str, what: str = "memory") -> str:
    """The text to store, stripped; UserError if it is empty, too long or not text."""
    check_unicode(text, what)
    if "\x00" in text or _control_fraction(text) > 0.05:
        raise UserError(
            "memory-binary", f"the {what} text looks like binary data, not text", Stage.MEMORY
        )
    stripped = text.strip()
    if not stripped:
        raise UserError(
            "memory-empty", f"nothing to remember: the {what} text is empty", Stage.MEMORY
        )
    if len(stripped) > MAX_CHARS:
        raise UserError(
            "memory-too-long",
            f"the {what} text is {len(stripped):,} characters, the limit is {MAX_CHARS:,}: "
            "use `secondself import FILE` for long documents (it splits them)",
            Stage.MEMORY,
        )
    return stripped


def time_ok(seconds: float, now: float) -> bool:
    """Whether a memory can have this time: finite, from 1970-01-01 to a day after `now`."""
    return math.isfinite(seconds) and EARLIEST <= seconds <= now + AHEAD


def check_time(seconds: float, what: str, now: float, given: str = "") -> float:
    """`seconds` if `time_ok`, else UserError naming `what` ("created") and the `given` value."""
    if not time_ok(seconds, now):
        raise UserError(
            "memory-bad-time",
            f'"{what}" is {given or repr(seconds)}: a time must lie between 1970-01-01 and '
            "tomorrow",
            Stage.MEMORY,
        )
    return seconds


def _control_fraction(text: str) -> float:
    if not text:
        return 0.0
    sample = text[:4096]
    bad = sum(1 for c in sample if (ord(c) < 32 and c not in "\t\n\r") or c == "\ufffd")
    return bad / len(sample)


def decode_text(data: bytes, where: str) -> str:
    """UTF-8 text of a file (a BOM is allowed); UserError naming the file otherwise."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(
            "import-not-utf8",
            f"{where} is not UTF-8 text (bad byte at offset {exc.start}); nothing was imported",
            Stage.MEMORY,
        ) from None
    if "\x00" in text or _control_fraction(text) > 0.05:
        raise UserError(
            "import-binary", f"{where} looks like binary data; nothing was imported", Stage.MEMORY
        )
    return text


MAX_THREAD_CHARS = 200
MAX_SEQ = 2**62  # SQLite keeps integers to 2**63


def thread_position(thread: object, seq: object) -> tuple[str | None, int | None]:
    """A conversation turn's thread (a name) and position in it (a whole number >= 0)."""
    if thread is not None and (
        not isinstance(thread, str) or not thread.strip() or len(thread) > MAX_THREAD_CHARS
    ):
        raise UserError(
            "memory-bad-thread",
            f'"thread" must be a name of 1 to {MAX_THREAD_CHARS} characters, not {thread!r:.60}',
            Stage.MEMORY,
        )
    if seq is not None and (
        isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ
    ):
        raise UserError(
            "memory-bad-seq", f'"seq" must be a whole number from 0, not {seq!r:.60}', Stage.MEMORY
        )
    if seq is not None and thread is None:
        raise UserError("memory-bad-seq", '"seq" needs a "thread" to count in', Stage.MEMORY)
    return (None if thread is None else thread.strip()), seq
