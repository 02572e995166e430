"""Names in conversation turns and questions: who said a turn, whom a question names.

A conversation turn is written "Name: what they said". The name is kept apart from the
words: MiniLM ranks by a name shared between question and turn above what was said
(every turn and most questions carry one), so vectors are made of the words alone, and
the person a question names becomes a soft preference for their turns instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# One to three words before a colon at the very start: "Melanie: ...", "Dr Ann Lee: ...".
_PREFIX = re.compile(r"(\w[\w'.-]*(?: \w[\w'.-]*){0,2}):\s+(\S.*)", re.DOTALL)
MAX_NAME_CHARS = 40


def split_speaker(text: str) -> tuple[str, str]:
    """(speaker, what they said) of a turn; ("", text) when it names no speaker."""
    match = _PREFIX.fullmatch(text)
    if match is None or len(match[1]) > MAX_NAME_CHARS:
        return "", text
    return match[1], match[2]


def _pattern(name: str) -> re.Pattern[str]:
    # The whole name or its first word ("Ann" for "Ann Lee"), with a possessive 's.
    forms = {name, name.split()[0]}
    alternatives = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})(?:['\u2019]s)?\b", re.IGNORECASE)


def named(query: str, speakers: Iterable[str]) -> list[str]:
    """The known speakers that `query` names, in the order given."""
    return [s for s in speakers if s and _pattern(s).search(query)]


def without_names(query: str, names: Iterable[str]) -> str:
    """The query with those names cut out (what its vector is made of)."""
    for name in names:
        query = _pattern(name).sub(" ", query)
    return " ".join(query.split())
