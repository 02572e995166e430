"""One line of an imported JSONL file to a memory, every field's type and range checked."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from secondself.core.errors import Stage, UserError
from secondself.core.names import check_name
from secondself.memory import validate
from secondself.memory.model import Kind, NewMemory, Origin, Visibility

E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class Links:
    """A record's own id and the ids it names, restored once the new ids are known."""

    id: int | None = None
    corrects: int | None = None
    superseded_by: int | None = None
    quotes: tuple[int, ...] = ()


NO_LINKS = Links()


@dataclass(frozen=True, slots=True)
class Record:
    where: str  # "memories.jsonl:12", for errors found once the media are read
    item: NewMemory
    links: Links
    media: str | None  # the archive member with its bytes, read once every line is checked
    timed: bool  # it says when it was made: part of what makes it the same memory


def parse(line: bytes, where: str, persona: str, archived: bool, now: float) -> Record | None:
    """The record on one line (None for a blank line); a UserError naming `where` if bad."""
    text = validate.decode_text(line, where)
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(where, f"not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise _bad(where, "not valid JSON (nested too deeply)") from None
    except ValueError as exc:  # e.g. a number of more digits than Python converts
        raise _bad(where, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _bad(where, "expected a JSON object")
    try:
        return _record(data, where, persona, archived, now)
    except UserError as exc:
        raise UserError(exc.code, f"{where}: {exc.message}", Stage.MEMORY) from None


def _bad(where: str, why: str) -> UserError:
    return UserError("import-bad-json", f"{where}: {why}", Stage.MEMORY)


def _record(data: dict[str, Any], where: str, persona: str, archived: bool, now: float) -> Record:
    text = data.get("text")
    if not isinstance(text, str):
        raise _field('a memory needs a "text" string')
    media = _string(data, "media")
    if media is not None and not archived:
        raise _field('"media" is only read from an exported archive')
    created = _time(data, "created", now)
    own_persona = _string(data, "persona")
    thread, seq = validate.thread_position(data.get("thread"), data.get("seq"))
    item = NewMemory(
        text=validate.clean_text(text),
        kind=_choice(data, "kind", Kind, Kind.NOTE),
        persona=check_name("persona", persona if own_persona is None else own_persona),
        visibility=_choice(data, "visibility", Visibility, Visibility.PRIVATE),
        source=_choice(data, "source", Origin, Origin.IMPORT),
        provenance=_string(data, "provenance") or "",
        created=created,
        valid_from=_time(data, "valid_from", now),
        valid_to=_time(data, "valid_to", now),
        # Archives carry their own supersede history; plain JSONL facts are checked.
        check_supersede=not archived and "valid_to" not in data,
        thread=thread,  # a turn of a conversation: its thread and position (context.py)
        seq=seq,
    )
    links = Links(
        id=_whole(data, "id"),
        corrects=_whole(data, "corrects"),
        superseded_by=_whole(data, "superseded_by"),
        quotes=_wholes(data, "quotes"),
    )
    return Record(where, item, links, media, timed=created is not None)


def _field(message: str) -> UserError:
    return UserError("import-bad-record", message, Stage.MEMORY)


def _string(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, str):  # JSON's "\ud800" is a str no store can hold
        return validate.check_unicode(value, f'"{name}"')
    raise _field(f'"{name}" must be a string, not {_what(value)}')


def _choice(data: dict[str, Any], name: str, choices: type[E], default: E) -> E:
    value = _string(data, name)
    if value is None:
        return default
    try:
        return choices(value)
    except ValueError:
        allowed = ", ".join(str(c) for c in choices)
        raise _field(f'"{name}" must be one of {allowed}, not {_show(value)}') from None


def _time(data: dict[str, Any], name: str, now: float) -> float | None:
    """Unix seconds or an ISO 8601 time (local unless it says its zone), within range."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise _field(f'"{name}" is not an ISO 8601 time: {_show(value)}') from None
        seconds = _seconds(when.timestamp)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = _seconds(lambda: float(value))
    else:
        raise _field(f'"{name}" must be unix seconds or an ISO 8601 time, not {_what(value)}')
    return validate.check_time(seconds, name, now, given=_show(value))


def _seconds(convert: Callable[[], float]) -> float:
    """Unix seconds, or NaN for a time that has none (year 1, a 400-digit number)."""
    try:
        return convert()
    except (ValueError, OverflowError, OSError):
        return math.nan


def _whole(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise _field(f'"{name}" must be a whole number, not {_what(value)}')


def _wholes(data: dict[str, Any], name: str) -> tuple[int, ...]:
    value = data.get(name)
    if value is None:
        return ()
    if isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return tuple(value)
    raise _field(f'"{name}" must be a list of whole numbers, not {_what(value)}')


def _what(value: object) -> str:
    """What a JSON value is, in words: "an object", "a list" ..."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, str):
        return f"the string {_show(value)}"
    return f"the number {_show(value)}"


def _show(value: object, most: int = 40) -> str:
    """A value for a one-line message, cut short: a record may hold a megabyte."""
    text = repr(value)
    return text if len(text) <= most else text[: most - 3] + "..."
