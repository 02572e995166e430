"""Who a text is about: the speaker of a conversation turn ("Audrey: ...") and the names
its words give, so that what is said of one person is held only to memories about them.

An imported chat holds both sides of a conversation: "Audrey: I make jewellery out of
recycled things" says nothing of Andrew, though it is close in meaning to "What jewellery
does Andrew make?". A memory is about a person when that person says it or it names them,
other than as the one spoken to ("Hey Andrew! ...", "Thanks, Andrew!").
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from secondself.answer.prompt import Source

_SPEAKER = re.compile(r"^([A-Z][\w'-]*):\s")
_WORD = re.compile(r"[A-Za-z][\w'-]*")
_CALENDAR = frozenset(
    """january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday""".split()
)
# Words before a name that is only the one spoken to: "Hey Andrew!", "Thanks, Andrew".
_GREETING = re.compile(
    r"(?:^|[.!?]\s+)(?:(?:hey|hi|hello|hiya|yo|oh|wow|aw+|thanks|thank you|congrats|"
    r"congratulations|sure|great|nice|cool|awesome|yeah|yes|no|ok|okay|sorry|"
    r"good (?:morning|evening|night|luck))[,!\s]*)?$",
    re.IGNORECASE,
)


def speaker(text: str) -> str | None:
    """Who said a conversation turn ("Audrey: ..."); None for the user's own notes."""
    match = _SPEAKER.match(text)
    return match[1] if match else None


def speakers(sources: Sequence[Source]) -> set[str]:
    return {who for s in sources if (who := speaker(s.text)) is not None}


def names(text: str, known: Collection[str] = ()) -> set[str]:
    """The names a text gives: capitalised words after the first (not I, months, days or
    acronyms), and any `known` name (a speaker) wherever it stands."""
    found: set[str] = set()
    for n, match in enumerate(_WORD.finditer(text)):
        word = match[0].removesuffix("'s").removesuffix("'")
        if word in known or (n and _is_name(word)):
            found.add(word)
    return found


def _is_name(word: str) -> bool:
    capitalised = word[0].isupper() and word != "I" and not word.isupper()
    return capitalised and word.lower() not in _CALENDAR


def mentions(text: str, name: str) -> bool:
    """Whether `text` names `name` other than as the one spoken to."""
    body = text[m.end() :] if (m := _SPEAKER.match(text)) else text
    for match in re.finditer(rf"\b{re.escape(name)}\b", body, re.IGNORECASE):
        before, after = body[: match.start()], body[match.end() :].removeprefix("'s")
        spoken_to = not after or after[0] in ",.!?"
        if spoken_to and (_GREETING.search(before) or before.rstrip().endswith(",")):
            continue
        return True
    return False


def is_about(text: str, people: Collection[str]) -> bool:
    return speaker(text) in people or any(mentions(text, p) for p in people)


def about_them(sources: Sequence[Source], people: Collection[str]) -> list[Source]:
    """The sources about any of `people`; all of them when no one is named."""
    if not people:
        return list(sources)
    return [s for s in sources if is_about(s.text, people)]
