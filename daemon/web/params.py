"""Reading what FastAPI cannot type by itself: each bad value is a 400 with a one-line reason."""

from __future__ import annotations

from secondself.memory.model import Kind
from secondself.web.errors import HttpError


def bad(message: str) -> HttpError:
    return HttpError(400, "bad-parameter", message)


def kinds(listed: str) -> tuple[Kind, ...]:
    """`note,image` -> the kinds; empty -> every kind."""
    found: list[Kind] = []
    for name in filter(None, listed.split(",")):
        try:
            found.append(Kind(name))
        except ValueError:
            raise bad(f"unknown kind {name!r}: use {', '.join(map(str, Kind))}") from None
    return tuple(found)
