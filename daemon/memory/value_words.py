"""The value words of a text, the slots an update fills: numbers ("fifth", "07700 900123"),
times ("3pm", "8:15"), dates ("4th of May", "Tuesdays"), colours, names (capitalised, not
first) and codes ("Daisy99"), each normalised so that two ways of writing one value match."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_MONTHS = (
    "january february march april may june july august september october november december"
).split()
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_PRONOUNS = frozenset(
    "i me my mine we us our you your he him his she her it they them their".split()
)
_COLOURS = frozenset(
    """red blue green yellow black white grey gray brown pink purple orange silver gold
    beige navy teal turquoise maroon violet cream""".split()
)
_NUMBER_WORDS = {
    w: n
    for n, w in enumerate(
        """zero one two three four five six seven eight nine ten eleven twelve thirteen
        fourteen fifteen sixteen seventeen eighteen nineteen twenty""".split()
    )
} | {
    w: 10 * n
    for n, w in enumerate("_ _ _ thirty forty fifty sixty seventy eighty ninety".split())
    if n > 2
}
_ORDINALS = {
    w: n + 1
    for n, w in enumerate(
        """first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth
        thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth
        twentieth""".split()
    )
}
_CONTRACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(I)'m\b", re.I), r"\1 am"),
    (re.compile(r"\b(he|she|it|that|there|what|name)'s\b", re.I), r"\1 is"),
    (re.compile(r"\b(\w+)'re\b", re.I), r"\1 are"),
    (re.compile(r"\b(\w+)'ve\b", re.I), r"\1 have"),
    (re.compile(r"\b(\w+)'ll\b", re.I), r"\1 will"),
    (re.compile(r"\b(\w+)'d\b", re.I), r"\1 would"),
    (re.compile(r"\b(Dr|Mr|Mrs|Ms|Prof|St)\.", re.I), r"\1"),  # not the end of a sentence
    (re.compile(r"\bfavorite\b", re.I), "favourite"),
    (re.compile(r"\bcolor\b", re.I), "colour"),
)


@dataclass(frozen=True, slots=True)
class Value:
    kind: str  # number | time | date | colour | name | code
    text: str  # normalised: "5" for "fifth", "15:00" for "3pm", "okafor"


@dataclass(frozen=True, slots=True)
class Token:
    word: str  # lower case
    value: Value | None


def normalise(text: str) -> str:
    """One spacing, straight apostrophes, contractions spelled out ("I'm" -> "I am")."""
    s = re.sub(r"\s+", " ", text.replace("\u2019", "'")).strip()
    for pattern, replacement in _CONTRACTIONS:
        s = pattern.sub(replacement, s)
    return s


def tokens(raw: Sequence[str]) -> list[Token]:
    """The words as tokens, adjacent value words joined: "June 3", "0123 456", "Dr Okafor",
    "3 pm" (the first word is never a name: it has a capital anyway)."""
    out: list[Token] = []
    for n, word in enumerate(raw):
        low = word.lower()
        before = out[-1].value if out else None
        value = _value(word, first=n == 0)
        if value is None and before is not None and before.kind == "number":
            if low in ("am", "pm"):
                out[-1] = Token(f"{out[-1].word} {low}", Value("time", _clock(before.text, low)))
                continue
            if low == "of" and n + 1 < len(raw) and raw[n + 1].lower() in _MONTHS:
                continue  # "3rd of June"
        joined = None if value is None or before is None else _join(before, value)
        if joined is not None:
            out[-1] = Token(f"{out[-1].word} {low}", joined)
        else:
            out.append(Token(low, value))
    return out


def _value(word: str, first: bool) -> Value | None:
    low = word.lower()
    if m := re.fullmatch(r"(\d{1,2})(?::(\d\d))?\s*(am|pm)", low):
        return Value("time", _clock(m[1], m[3], m[2] or "00"))
    if re.fullmatch(r"\d{1,2}:\d\d", low):
        return Value("time", low.zfill(5))
    if m := re.fullmatch(r"(\d+)(?:st|nd|rd|th)", low):
        return Value("number", str(int(m[1])))
    if re.fullmatch(r"\d+(?:[.,/-]\d+)*%?", low):
        return Value("number", low)
    if low in _NUMBER_WORDS:
        return Value("number", str(_NUMBER_WORDS[low]))
    if low in _ORDINALS:
        return Value("number", str(_ORDINALS[low]))
    if low.rstrip("s") in _WEEKDAYS or (low in _MONTHS and (word[0].isupper() or low != "may")):
        return Value("date", low.rstrip("s") if low.rstrip("s") in _WEEKDAYS else low)
    if low in _COLOURS:
        return Value("colour", low)
    if re.search(r"\d", low) and re.search(r"[a-z]", low):
        return Value("code", low)
    if word[0].isupper() and not first and not word.isupper() and low not in _PRONOUNS:
        return Value("name", low)
    return None


def _join(before: Value, after: Value) -> Value | None:
    kinds = {before.kind, after.kind}
    if kinds == {"number"} or kinds == {"name"}:
        return Value(before.kind, f"{before.text} {after.text}")
    if kinds <= {"number", "date"} and "date" in kinds:
        parts = sorted(f"{before.text} {after.text}".split(), key=lambda p: (p.isdigit(), p))
        return Value("date", " ".join(parts))  # "4 may" and "may 4" are one date
    return None


def _clock(hour: str, half: str, minutes: str = "00") -> str:
    h = int(hour) % 12 + (12 if half == "pm" else 0)
    return f"{h:02d}:{minutes}"
