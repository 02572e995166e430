"""Reading a request's parameters: each bad one is a 400 with a one-line reason."""

from __future__ import annotations

from collections.abc import Mapping

from secondself.memory.model import Kind, Visibility
from secondself.web.http import HttpError


def bad(message: str) -> HttpError:
    return HttpError(400, "bad-parameter", message)


def integer(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) < 10) or not low <= int(raw) <= high:
        raise bad(f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def flag(query: Mapping[str, str], name: str) -> bool:
    raw = query.get(name, "")
    if raw not in ("", "0", "1"):
        raise bad(f"{name} must be 0 or 1")
    return raw == "1"


def kinds(query: Mapping[str, str]) -> tuple[Kind, ...]:
    """`kind=note,image` -> the kinds; empty -> every kind."""
    found: list[Kind] = []
    for name in filter(None, query.get("kind", "").split(",")):
        try:
            found.append(Kind(name))
        except ValueError:
            raise bad(f"unknown kind {name!r}: use {', '.join(map(str, Kind))}") from None
    return tuple(found)


def text(body: Mapping[str, object], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise bad(f"{name} must be a string")
    return value


def boolean(body: Mapping[str, object], name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise bad(f"{name} must be true or false")
    return value


def visibility(body: Mapping[str, object]) -> Visibility:
    value = body.get("visibility")
    if value not in (Visibility.PRIVATE, Visibility.SHARED):
        raise bad("visibility must be 'private' or 'shared'")
    return Visibility(str(value))
