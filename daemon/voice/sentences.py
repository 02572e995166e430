"""Split streamed answer text into sentences, so the first is spoken while the rest is made."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

# A sentence ends at . ! ? or a newline followed by whitespace; not after a common
# abbreviation or a single capital ("Dr.", "J."), and not inside a number ("3.5").
_END = re.compile(r"[.!?]+[\"')\]]*\s|\n")
_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "vs", "etc", "e.g", "i.e", "no"})
MIN_CHARS = 12  # very short pieces ("Yes.") are joined to the next for natural prosody


class SentenceSplitter:
    def __init__(self, min_chars: int = MIN_CHARS) -> None:
        self._buffer = ""
        self._min_chars = min_chars

    def feed(self, piece: str) -> list[str]:
        """Add streamed text; returns the sentences it completed."""
        self._buffer += piece
        done: list[str] = []
        start = 0
        for match in _END.finditer(self._buffer):
            candidate = self._buffer[start : match.end()].strip()
            if _ends_in_abbreviation(candidate) or len(candidate) < self._min_chars:
                continue
            done.append(candidate)
            start = match.end()
        self._buffer = self._buffer[start:]
        return done

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer.strip(), ""
        return [rest] if rest else []


def _ends_in_abbreviation(sentence: str) -> bool:
    words = sentence.rstrip().split()
    if not words:
        return False
    last = words[-1].rstrip(".").lower()
    return last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())


def split_stream(pieces: Iterable[str]) -> Iterator[str]:
    splitter = SentenceSplitter()
    for piece in pieces:
        yield from splitter.feed(piece)
    yield from splitter.flush()
