"""A recalled memory as an answer sees it: its text, kind, time and similarity, and whether
another recalled memory gives the same thing a different value."""

from __future__ import annotations

from dataclasses import dataclass

from secondself.answer.prompt import Source
from secondself.memory.model import Kind


@dataclass(frozen=True, slots=True)
class Recalled(Source):
    """A recalled memory with what a listing answer says of it: its kind and its time."""

    kind: Kind = Kind.NOTE
    created: float = 0.0  # unix seconds
    said_when: str = ""  # relative to the recall: "yesterday at 14:05"
    # Another recalled memory gives what this one says a different value (`conflicts.py`):
    # an answer from either is less sure.
    disputed: bool = False
    # ... and that one is newer: this memory may be out of date, never said as the answer.
    outdated: bool = False
