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

from secondself.memory import value_words
from secondself.memory.value_words import Token, Value

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
_VERBS = frozenset(
    "go come start open close live work leave arrive meet take run stay begin end use".split()
)
_MANY = frozenset(
    """like likes love loves enjoy enjoys hate hates adore adores know knows meet meets see
    sees visit visits want wants need needs play plays watch watches read reads eat eats
    drink drinks speak speaks collect collects own owns have has""".split()
)


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
class _Loose:
    words: tuple[str, ...]  # content words in order
    owners: frozenset[str]  # whose things it speaks of: "i" (mine, ours, or no one's), "anna's"
    kinds: dict[str, tuple[str, ...]]  # values by kind


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
    changed = _changed(new_kinds, old_kinds)
    if not _one_thing_changed(new_kinds, old_kinds):
        return False  # the same values (a repeat), or two things (two flights)
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
    return _one_thing_changed(a.by_kind(), b.by_kind())


def may_differ(a_text: str, b_text: str, *, loosely: bool = False) -> bool:
    """Loosest: two short statements of a current single value, each naming first what the
    other is about too (`loosely`: one of them), with a value of one kind that differs,
    however they are built ("My GP is Dr Walsh", "I've switched GP, it's Dr Mensah now").
    Either may be out of date."""
    if len(a_text) > MAX_CHARS or len(b_text) > MAX_CHARS:
        return False  # no single fact (and kept out of the cache)
    a, b = _loose(a_text), _loose(b_text)
    if a is None or b is None or not a.words or not b.words or a.owners != b.owners:
        return False  # whose: my dog, my neighbour's dog (but "they changed our code")
    named = [a.words[0] in b.words, b.words[0] in a.words]
    if not (any(named) if loosely else all(named)):
        return False  # what each is about (not "my sister lives ...", "my brother lives ...")
    return _one_thing_changed(a.kinds, b.kinds)


@functools.lru_cache(maxsize=4096)
def _loose(text: str) -> _Loose | None:
    """A statement's content words, in order, whose things they are, its values by kind."""
    said = _one_statement(text)
    if said is None:
        return None
    tokens = [t for clause in _CLAUSES.split(said[0]) for t in _clause(clause)]
    if not tokens or _is_past(tokens) or any(_is_many(tokens, n) for n in range(len(tokens))):
        return None
    if not _has_verb(value_words.tokens(_TOKEN.findall(said[0]))):
        return None  # a label ("Shopping item 3: oat milk"), not a statement
    words = tuple(_stem(t.word) for t in tokens if t.value is None and _is_content(t.word))
    owners = {_PEOPLE[t.word] for t in tokens if t.word in _POSSESSIVES}
    owners.update(t.word for t in tokens if t.word.endswith("'s"))
    kinds: dict[str, tuple[str, ...]] = {}
    for t in tokens:
        if t.value is not None:
            kinds[t.value.kind] = (*kinds.get(t.value.kind, ()), t.value.text)
    return _Loose(words, frozenset(owners or {"i"}), kinds)


def _changed(a: dict[str, tuple[str, ...]], b: dict[str, tuple[str, ...]]) -> set[str]:
    """The kinds of value both have, with other values."""
    return {k for k in a.keys() & b.keys() if a[k] != b[k]}


def _one_thing_changed(a: dict[str, tuple[str, ...]], b: dict[str, tuple[str, ...]]) -> bool:
    """Some value changed, and not a name along with the rest: a name that changes with
    the time tells two things apart ("the flight to Rome at 9", "the flight to Oslo at 7")."""
    changed = _changed(a, b)
    return bool(changed) and not ("name" in changed and len(changed) > 1)


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
    said = _one_statement(text)
    if said is None:
        return None
    s, speaker = said
    tokens = _statement(s)
    if not tokens or tokens[0].word in _VAGUE or _is_past(tokens):
        return None
    if not _has_verb(value_words.tokens(_TOKEN.findall(s))):  # change words are verbs too
        return None
    end = _subject_end(tokens)
    if end > MAX_SUBJECT_WORDS:
        return None
    people = {speaker.lower()} if speaker else set()
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


def _one_statement(text: str) -> tuple[str, str | None] | None:
    """The text without fillers and a speaker's name ("Audrey: "), and the name; None for
    what is no statement of one current fact: a question, a negation, one more of something
    ("too", "also"), more than one sentence, a long text."""
    s = value_words.normalise(text)
    speaker = _SPEAKER.match(s)
    s = FILLERS.sub("", s[speaker.end() :] if speaker else s).rstrip(" .!")
    if not s or "?" in s or QUESTION.match(s) or NEGATION.search(s) or _ADDING.search(s):
        return None
    if re.search(r"[.!;]\s+\S", s) or len(s.split()) > MAX_WORDS:
        return None
    return s, speaker[1] if speaker else None


def _statement(s: str) -> list[Token]:
    """The statement's tokens without change words and articles, from the clauses that
    hold its values: "We moved, my office is now on the fifth floor" keeps the second, and
    "Claire left, my manager is Dev now" too."""
    clauses = [_clause(c) for c in _CLAUSES.split(s)]
    valued = [c for c in clauses if any(t.value is not None for t in c)]
    return [t for c in (valued or clauses) for t in c]


def _clause(clause: str) -> list[Token]:
    kept: list[Token] = []
    for t in value_words.tokens(_TOKEN.findall(clause)):
        if t.value is None and t.word in _CHANGE:
            if kept and kept[-1].word in ("have", "has", "had"):
                kept.pop()  # "has changed": the "has" helped the change word, both go
        elif t.value is not None or t.word not in _ARTICLES:
            kept.append(t)
    return kept


def _is_content(word: str) -> bool:
    return word not in _FUNCTION and word not in _PEOPLE


def _subject_end(tokens: Sequence[Token]) -> int:
    """Where the predicate starts: after a leading pronoun, else at the first copula,
    auxiliary or preposition. Values before it name the thing ("my sister Anna", "the red
    key", "page 3"); a text with no predicate ("meeting notes page 3") has no values."""
    if tokens[0].word in _PEOPLE and tokens[0].word not in _POSSESSIVES:
        return 1
    for n, t in enumerate(tokens[1:], 1):
        if t.word in _AUX or t.word in _PREPOSITIONS:
            return n
    return len(tokens)


def _has_verb(tokens: Sequence[Token]) -> bool:
    """A statement says something: a copula or helper, a leading pronoun ("I keep ..."), a
    verb in -s or -ed ("lands", "moved") or a common verb ("the kids go ..."); "single
    memory after 32" or "page 3 about the budget" is a label, not a statement."""
    if tokens[0].word in _PEOPLE and tokens[0].word not in _POSSESSIVES:
        return True
    return any(t.word in _AUX or t.word in _VERBS or _inflected(t, n) for n, t in enumerate(tokens))


def _inflected(t: Token, n: int) -> bool:
    """A word after the first in -s or -ed: a verb, or a plural the verb is beside."""
    if not n or t.value is not None or t.word.endswith(("ss", "'s")):
        return False
    return t.word.endswith("s") or (len(t.word) > 4 and t.word.endswith("ed"))


def _is_past(tokens: Sequence[Token]) -> bool:
    """An event, told in the past tense: "I met Tom", "we visited Rome" (not "is called")."""
    for n, t in enumerate(tokens):
        if t.value is not None or t.word in _NOT_PAST:
            continue
        past = t.word in _PAST or (len(t.word) > 4 and t.word.endswith("ed"))
        if past and (n == 0 or tokens[n - 1].word not in _AUX):
            return True
    return False


def _is_many(tokens: Sequence[Token], n: int) -> bool:
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
