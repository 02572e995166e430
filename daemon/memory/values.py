"""A short statement cut into its values (numbers, times, dates, colours, names, codes) and
the frame they sit in, so that two statements can be told apart by their values alone.

"My office is on the second floor" and "We moved, my office is now on the fifth floor" have
one frame (about "office", the words {office, floor}, of "i") and one value each, of one
kind, that differ: the newer states a new value of the same thing. The frame ignores what
says nothing about the thing itself: articles, fillers ("remember that", "so"), words that
announce a change ("now", "moved", "anymore") and the clauses without a value beside one
with it ("we moved,", "Claire left,").

What is no single current fact has no frame: questions, negations, more than one sentence,
long texts, a vague subject ("it is ..."), and events, said in the past tense ("I visited
Rome in May": a later visit to Paris replaces nothing). Many-valued verbs (like, have,
visit ...) keep a frame, but only a count may change there ("I have two cats" -> three).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_CHARS = 300
MAX_WORDS = 25
MAX_SUBJECT_WORDS = 6
MAX_EXTRA_WORDS = 1  # content words one side may add to the other ("..., by the lifts")
MAX_DIFFERENT_WORDS = 3  # ... and, when they may only conflict, the two together

FILLERS = re.compile(
    r"^(?:(?:please\s+)?remember\s+(?:that\s+)?|note\s+(?:that\s+)?|actually,?\s+|"
    r"so,?\s+|now,?\s+|ok(?:ay)?,?\s+|fyi,?\s+|by the way,?\s+|just so you know,?\s+|"
    r"from now on,?\s+|no,?\s+)+",
    re.IGNORECASE,
)
NEGATION = re.compile(r"n't\b|\bnot\b|\bnever\b|\bno longer\b|\bnobody\b|\bnothing\b", re.I)
QUESTION = re.compile(r"^(?:what|who|where|when|why|how|which|is|are|do|does|did|can)\b", re.I)
_SPEAKER = re.compile(r"^([A-Z][\w'-]*):\s+")
_TOKEN = re.compile(r"\w+(?:['.:/-]\w+)*")
_CLAUSES = re.compile(r"\s*(?:[,;:]|\s-+)\s+")

# Words that say a value changed, or nothing at all: left out of every frame.
_CHANGE = frozenset(
    """now currently nowadays anymore today moved move moving changed change switched
    switch actually recently just new newly instead officially finally since these days
    still"""
    """ news update good guess well hey oh so okay ok yes yeah btw fyi please remember
    note that""".split()
)
_ARTICLES = frozenset("a an the".split())
_PEOPLE = {
    **dict.fromkeys("i me my mine myself we us our ours ourselves".split(), "i"),
    **dict.fromkeys("you your yours yourself".split(), "you"),
    **dict.fromkeys("he him his himself".split(), "he"),
    **dict.fromkeys("she her hers herself".split(), "she"),
    **dict.fromkeys("they them their theirs themselves".split(), "they"),
}
_POSSESSIVES = frozenset("my our your his her their".split())
_BE = frozenset("am is are be been being 's".split())
_AUX = _BE | frozenset(
    "has have had do does will would shall should can could may might must got get gets".split()
)
_PREPOSITIONS = frozenset(
    """in on at to for from of by with near into onto over under above below behind beside
    between across through about around past after before until till via per""".split()
)
_FUNCTION = _ARTICLES | _AUX | _PREPOSITIONS | frozenset("and or but than as there".split())
_VAGUE = frozenset("it this that there here what which".split())
_PAST = frozenset(
    """was were went met saw bought ate drank took made did came ran gave found told said
    wrote sold won lost paid sent brought thought felt kept left flew drove spent began
    became broke chose forgot heard knew read rode sang sat slept spoke stood swam
    taught threw understood woke wore""".split()
)
_NOT_PAST = frozenset("red bed shed need feed seed speed".split())  # not verbs in the past
# "too", "also": one more, not another value ("I work from home on Fridays too").
_ADDING = re.compile(r"\b(?:too|also|as well|another|either)\b", re.I)
_MANY = frozenset(
    """like likes love loves enjoy enjoys hate hates adore adores know knows meet meets see
    sees visit visits want wants need needs play plays watch watches read reads eat eats
    drink drinks speak speaks collect collects own owns have has""".split()
)

_MONTHS = (
    "january february march april may june july august september october november december"
).split()
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
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
class Frame:
    """A statement without its values: what it is about and what it says of it."""

    words: frozenset[str]  # its content words, roughly stemmed ("office", "floor")
    subject: frozenset[str]  # those of them before the predicate: what it is about
    people: frozenset[str]  # who it speaks of: i, you, he, she, they, or a speaker's name
    values: tuple[Value, ...]  # the predicate's values, in order
    many_valued: bool  # like, have, visit ...: only a count may change

    def by_kind(self) -> dict[str, tuple[str, ...]]:
        kinds: dict[str, tuple[str, ...]] = {}
        for v in self.values:
            kinds[v.kind] = (*kinds.get(v.kind, ()), v.text)
        return kinds


@dataclass(frozen=True, slots=True)
class _Token:
    word: str  # lower case
    value: Value | None


def updates(new_text: str, old_text: str) -> bool:
    """True when the two statements have one frame and differ in a value of it."""
    new, old = frame(new_text), frame(old_text)
    if new is None or old is None or new.people != old.people:
        return False
    if not _same_thing(new, old) or not _same_thing(old, new):
        return False
    new_kinds, old_kinds = new.by_kind(), old.by_kind()
    if {k: len(v) for k, v in new_kinds.items()} != {k: len(v) for k, v in old_kinds.items()}:
        return False  # "at 3pm" and "in room 4": two facts, not two values of one
    changed = {k for k in new_kinds if new_kinds[k] != old_kinds[k]}
    if not changed:
        return False  # the same values: a repeat
    if "name" in changed and len(changed) > 1:
        return False  # a name that changes with the rest tells two things apart (flights)
    many = new.many_valued or old.many_valued
    return not many or changed == {"number"}  # "I have two cats" -> "three", never "like"


def differ_in_value(a_text: str, b_text: str) -> bool:
    """Looser than `updates`: two statements of single values about one person, sharing
    what they are about and a few more words, with a value of one kind that differs."""
    a, b = frame(a_text), frame(b_text)
    if a is None or b is None or a.people != b.people or a.many_valued or b.many_valued:
        return False
    if not _one_subject(a, b) or len(a.words ^ b.words) > MAX_DIFFERENT_WORDS:
        return False
    a_kinds, b_kinds = a.by_kind(), b.by_kind()
    return any(a_kinds[k] != b_kinds[k] for k in a_kinds.keys() & b_kinds.keys())


def _one_subject(a: Frame, b: Frame) -> bool:
    """The same subject, or one said after a pronoun ("I changed my bike lock code")."""
    if a.subject == b.subject:
        return True
    return (not a.subject and b.subject <= a.words) or (not b.subject and a.subject <= b.words)


def _same_thing(a: Frame, b: Frame) -> bool:
    """What `a` says more than `b` is at most a word of its predicate, never of its subject
    ("my wife's favourite colour" is not "my favourite colour")."""
    extra = a.words - b.words
    return len(extra) <= MAX_EXTRA_WORDS and not (extra & a.subject)


def frame(text: str) -> Frame | None:
    """The statement's frame and values, or None if it is no single current fact."""
    if len(text) > MAX_CHARS:  # a long note is no single fact (and is kept out of the cache)
        return None
    return _frame(text)


@functools.lru_cache(maxsize=4096)  # a saved fact is compared with many candidates
def _frame(text: str) -> Frame | None:
    s = re.sub(r"\s+", " ", text.replace("\u2019", "'")).strip()
    for pattern, replacement in _CONTRACTIONS:
        s = pattern.sub(replacement, s)
    speaker = _SPEAKER.match(s)
    s = FILLERS.sub("", s[speaker.end() :] if speaker else s).rstrip(" .!")
    if not s or "?" in s or QUESTION.match(s) or NEGATION.search(s) or _ADDING.search(s):
        return None
    if re.search(r"[.!;]\s+\S", s) or len(s.split()) > MAX_WORDS:
        return None  # more than one sentence: not a single fact
    tokens = _statement(s)
    if not tokens or tokens[0].word in _VAGUE or _is_past(tokens):
        return None
    end = _subject_end(tokens)
    if end > MAX_SUBJECT_WORDS:
        return None
    people = {speaker[1].lower()} if speaker else set()
    people.update(_PEOPLE[t.word] for t in tokens if t.word in _PEOPLE)
    subject = {_stem(t.word) for t in tokens[:end] if _is_content(t.word)}
    predicate = [t for t in tokens[end:] if t.value is None and _is_content(t.word)]
    # A value before the predicate names the thing itself ("the red key"): a word of it.
    return Frame(
        words=frozenset(subject | {_stem(t.word) for t in predicate}),
        subject=frozenset(subject),
        people=frozenset(people or {"i"}),  # the user's own memories are about the user
        values=tuple(t.value for t in tokens[end:] if t.value is not None),
        many_valued=any(_is_many(tokens, n) for n in range(len(tokens))),
    )


def _statement(s: str) -> list[_Token]:
    """The statement's tokens without change words and articles, from the clauses that
    hold its values: "We moved, my office is now on the fifth floor" keeps the second, and
    "Claire left, my manager is Dev now" too."""
    clauses = [_clause(c) for c in _CLAUSES.split(s)]
    valued = [c for c in clauses if any(t.value is not None for t in c)]
    return [t for c in (valued or clauses) for t in c]


def _clause(clause: str) -> list[_Token]:
    tokens = _merge(_TOKEN.findall(clause))
    return [
        t
        for t in tokens
        if t.value is not None or (t.word not in _CHANGE and t.word not in _ARTICLES)
    ]


def _is_content(word: str) -> bool:
    return word not in _FUNCTION and word not in _PEOPLE


def _merge(raw: Sequence[str]) -> list[_Token]:
    """Tokens with adjacent value words joined: "June 3", "0123 456", "Dr Okafor", "3 pm"."""
    out: list[_Token] = []
    for n, word in enumerate(raw):
        low = word.lower()
        before = out[-1].value if out else None
        value = _value(word, first=n == 0)
        if value is None and before is not None and before.kind == "number":
            if low in ("am", "pm"):
                out[-1] = _Token(f"{out[-1].word} {low}", Value("time", _clock(before.text, low)))
                continue
            if low == "of" and n + 1 < len(raw) and raw[n + 1].lower() in _MONTHS:
                continue  # "3rd of June"
        joined = None if value is None or before is None else _join(before, value)
        if joined is not None:
            out[-1] = _Token(f"{out[-1].word} {low}", joined)
        else:
            out.append(_Token(low, value))
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
    if word[0].isupper() and not first and word != "I" and low not in _PEOPLE:
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


def _subject_end(tokens: Sequence[_Token]) -> int:
    """Where the predicate starts: after a leading pronoun, else at the first copula,
    auxiliary or preposition. Values before it name the thing ("my sister Anna", "the red
    key", "page 3"); a text with no predicate ("meeting notes page 3") has no values."""
    if tokens[0].word in _PEOPLE and tokens[0].word not in _POSSESSIVES:
        return 1
    for n, t in enumerate(tokens[1:], 1):
        if t.word in _AUX or t.word in _PREPOSITIONS:
            return n
    return len(tokens)


def _is_past(tokens: Sequence[_Token]) -> bool:
    """An event, told in the past tense: "I met Tom", "we visited Rome" (not "is called")."""
    for n, t in enumerate(tokens):
        if t.value is not None or t.word in _NOT_PAST:
            continue
        past = t.word in _PAST or (len(t.word) > 4 and t.word.endswith("ed"))
        if past and (n == 0 or tokens[n - 1].word not in _AUX):
            return True
    return False


def _is_many(tokens: Sequence[_Token], n: int) -> bool:
    """A many-valued verb: like, visit ... and "have" unless it helps another verb
    ("has been", "have got")."""
    word = tokens[n].word
    after = tokens[n + 1].word if n + 1 < len(tokens) else ""
    if word in ("have", "has"):
        return after not in ("been", "got") and not after.endswith("ed")
    return word in _MANY


def _stem(word: str) -> str:
    word = word.removesuffix("'s")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word
