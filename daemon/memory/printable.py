"""Names as one line of text that any store, index or terminal takes: odd characters escaped."""

from __future__ import annotations


def printable(name: str) -> str:
    """`name` with control and invisible characters shown as \\n, \\x1b, \\u202e, and the
    bytes of a file name that are not UTF-8 (held as lone surrogates) as \\xff: text SQLite
    can store, and an error message that stays one line and cannot drive a terminal."""
    return "".join(c if c.isprintable() else _escaped(c) for c in name)


def _escaped(char: str) -> str:
    if "\udc80" <= char <= "\udcff":  # a byte os.fsdecode could not decode
        return f"\\x{ord(char) - 0xDC00:02x}"
    return char.encode("unicode_escape").decode("ascii")
