"""Who a text is about: the speaker of a conversation turn ("Audrey: ...") and the names
its words give, so that what is said of one person is held only to memories about them.

An imported chat holds both sides of a conversation: "Audrey: I make jewellery out of
recycled things" says nothing of Andrew, though it is close in meaning to "What jewellery
does Andrew make?". A memory is about a person when that person says it or it names them,
other than as the one spoken to ("Hey Andrew! ...", "Thanks, Andrew!"). Of a turn they
said, what it says of them is their statements, not their questions nor what they tell the
other; what the other tells "you" is of them ("Andrew: It's great that you make jewellery"
is about Audrey: a chat is taken to have two sides).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from secondself.answer.prompt import Source

_SPEAKER = re.compile(r"^([A-Z][\w'-]*):\s")
_WORD = re.compile(r"[A-Za-z][\w'-]*")
_SENTENCE = re.compile(r"(?<=[.!?])[\"')\]]*\s+")  # '... called "Savana." What ...'""
_YOU = frozenset("you your yours yourself".split())
_ME = frozenset("i me my mine myself we us our ours im ive".split())
_SUGGESTION = re.compile(r"(?:how|what) about\b|why not\b|why don't we\b|shall we\b", re.I)
_ADVICE = frozenset("could should can might may would try maybe suggest recommend".split())
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


def named(text: str, sources: Sequence[Source]) -> set[str]:
    """Whom a text is about: the speakers of `sources` it names, or, naming none, the names
    it gives ("When is Tom's birthday?" asks about Tom; "Andrew's dog is Max" is about
    Andrew, not Max, when Andrew is one of the speakers)."""
    speaking = speakers(sources)
    found = names(text, speaking)
    return (found & speaking) or found


def said_of(text: str, people: Collection[str]) -> str:
    """What a memory says of `people`: all of it when it names one of them; of a chat turn
    one of them said, their statements (not their questions, not what they tell "you"); of
    one someone else said, what they tell "you" (the other side of the chat); else nothing.
    All of it when no one is asked about."""
    if not people or any(mentions(text, p) for p in people):
        return text
    prefix = _SPEAKER.match(text)
    if prefix is None:
        return ""
    sentences = [s for s in _SENTENCE.split(text[prefix.end() :]) if not _asks(s)]
    if prefix[1] in people:
        return " ".join([prefix[1] + ":", *(s for s in sentences if not _to_you(s))])
    return " ".join(s for s in sentences if _to_you(s))


def _asks(sentence: str) -> bool:
    """A question, unless it suggests ("How about biking?" is the speaker's idea)."""
    return sentence.endswith("?") and not _SUGGESTION.match(sentence)


def _to_you(sentence: str) -> bool:
    """Said of the one spoken to: "you're giving old things new life", not "I hike" nor
    advice, which is the speaker's own ("you could try biking")."""
    words = set(re.findall(r"[a-z]+", sentence.lower()))
    return bool(words & _YOU) and not words & (_ME | _ADVICE)


def is_about(text: str, people: Collection[str]) -> bool:
    return speaker(text) in people or any(mentions(text, p) for p in people)


def about_them(sources: Sequence[Source], people: Collection[str]) -> list[Source]:
    """The sources about any of `people`; all of them when no one is named."""
    if not people:
        return list(sources)
    return [s for s in sources if is_about(s.text, people)]
