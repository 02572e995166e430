"""When does a new memory supersede an older one? A small, explainable rule.

Both memories must parse as one short statement SUBJECT RELATION OBJECT, where RELATION
is one that holds a single value at a time:

- naming:    "my dog is called Rex", "my dog's name is Rex", "my boss is named Tom"
- residence: "I live in Leeds", "my sister lives in Paris", "we moved to York"
- work:      "I work at Acme", "Sam works for Globex"
- "is" with an attribute subject: "my favourite colour is blue", "the wifi password
  is hunter2", "my dentist is Dr Lee" (possessive or "the" subject ending in an
  attribute noun such as name, number, address, password, birthday, boss, car ...;
  "my dog is old" does not parse, because a dog can be many things at once)

and then: the same subject and relation, a different object, neither negated nor a
question, and embedding similarity at least MIN_SIMILARITY (a guard against two
statements that merely parse alike). Likes, haves and other many-valued verbs never
supersede. The later `valid_from` wins, so importing old notes cannot retire newer facts.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

MIN_SIMILARITY = 0.3  # MiniLM: 0.39-0.96 on the labelled updates; the parse decides
MAX_CHARS = 400  # far more than MAX_WORDS words take
MAX_WORDS = 25
MAX_SUBJECT_WORDS = 6
MAX_OBJECT_WORDS = 12

_FILLERS = re.compile(
    r"^(?:(?:please\s+)?remember\s+(?:that\s+)?|note\s+(?:that\s+)?|actually,?\s+|"
    r"so,?\s+|now,?\s+|ok(?:ay)?,?\s+|fyi,?\s+|by the way,?\s+|just so you know,?\s+|"
    r"from now on,?\s+|no,?\s+)+"
)
_NEGATION = re.compile(r"n't\b|\bnot\b|\bnever\b|\bno longer\b|\bnobody\b|\bnothing\b")
_QUESTION = re.compile(r"^(?:what|who|where|when|why|how|which|is|are|do|does|did|can)\b")
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bname's\b"), "name is"),
    (re.compile(r"^(.+?)'s\s+names?\s+(?:is|are)\s+"), r"\1 is called "),
    (re.compile(r"\b(he|she|it)'s\b"), r"\1 is"),
    (re.compile(r"\bi'm\b"), "i am"),
    (re.compile(r"\b(we|they|you)'re\b"), r"\1 are"),
    (re.compile(r"\b(i|we|they|you)'ve\b"), r"\1 have"),
    (re.compile(r"\bfavorite\b"), "favourite"),
    (re.compile(r"\bcolor\b"), "colour"),
)

# (verb phrase pattern, relation); the first that splits the sentence wins.
_RELATIONS: tuple[tuple[str, str], ...] = (
    (r"(?:is|are|was|were)\s+(?:called|named)|(?:goes|go)\s+by", "name"),
    (
        r"(?:now\s+)?(?:lives?|(?:am|is|are)\s+living)\s+(?:in|at)|"
        r"(?:have\s+|has\s+)?(?:just\s+)?moved\s+to",
        "lives",
    ),
    (r"(?:now\s+)?(?:works?|(?:am|is|are)\s+working)\s+(?:at|for)", "works"),
    (r"is|are", "is"),
)
_SPLITTERS = tuple(
    (re.compile(rf"^(?P<subject>.+?)\s+(?:{pattern})\s+(?P<object>.+)$"), relation)
    for pattern, relation in _RELATIONS
)

_POSSESSIVE = re.compile(r"^(?:my|our|his|her|their|your|the|[a-z]+'s)\b")
_VAGUE_SUBJECTS = frozenset({"it", "this", "that", "there", "here", "what", "which"})
# Things one can have many of (books, songs, teams) count only after "favourite".
ATTRIBUTE_NOUNS = frozenset(
    (
        "name number address birthday age email password pin code passcode colour job title "
        "role boss manager doctor dentist vet partner wife husband girlfriend boyfriend car "
        "phone school teacher employer salary size height weight username handle postcode zip "
        "anniversary landlord bank ringtone nickname surname religion language plate"
    ).split()
)


@dataclass(frozen=True, slots=True)
class Statement:
    subject: str
    relation: str
    object: str


def normalise(text: str) -> str:
    s = text.strip().lower().replace("\u2019", "'")
    s = re.sub(r"\s+", " ", s)
    s = _FILLERS.sub("", s)
    for pattern, replacement in _REWRITES:
        s = pattern.sub(replacement, s)
    return s.strip()


def parse(text: str) -> Statement | None:
    """SUBJECT RELATION OBJECT if `text` is one short single-valued statement, else None."""
    if len(text) > MAX_CHARS:  # a long note is no single fact (and is kept out of the cache)
        return None
    return _parse(text)


@functools.lru_cache(maxsize=4096)  # a saved fact is compared with many candidates
def _parse(text: str) -> Statement | None:
    s = normalise(text)
    if not s or "?" in s or _QUESTION.match(s) or _NEGATION.search(s):
        return None
    s = s.rstrip(" .!")
    if re.search(r"[.!;]\s+\S", s) or len(s.split()) > MAX_WORDS:
        return None  # more than one sentence: not a single fact
    for splitter, relation in _SPLITTERS:
        match = splitter.match(s)
        if not match:
            continue
        subject = match["subject"].strip(" ,")
        obj = _clean_object(match["object"])
        if not _valid_subject(subject, relation) or not obj:
            return None
        if len(obj.split()) > MAX_OBJECT_WORDS:
            return None
        return Statement(subject, relation, obj)
    return None


def _valid_subject(subject: str, relation: str) -> bool:
    words = subject.split()
    if not words or len(words) > MAX_SUBJECT_WORDS or subject in _VAGUE_SUBJECTS:
        return False
    if relation != "is":
        return True
    # "is" holds one value only for attributes: my phone number, the wifi password ...
    return bool(_POSSESSIVE.match(subject)) and (
        words[-1] in ATTRIBUTE_NOUNS or "favourite" in words
    )


def _clean_object(obj: str) -> str:
    obj = obj.strip(" ,.!\"'")
    obj = re.sub(r"^(?:now|currently|actually)\s+", "", obj)
    obj = re.sub(r"\s+(?:now|these days|nowadays)$", "", obj)
    obj = re.sub(r"^(?:a|an|the)\s+", "", obj)
    return obj


_PROBE_VERBS = {"name": "is called", "lives": "lives in", "works": "works at", "is": "is"}


def probe(statement: Statement) -> str:
    """The statement without its value ("my dog is called"): its embedding is close to
    every value of the same subject, whatever the value means."""
    return f"{statement.subject} {_PROBE_VERBS[statement.relation]}"


def same_subject(new: Statement, old: Statement) -> bool:
    return new.subject == old.subject and new.relation == old.relation


def supersedes(new_text: str, old_text: str, similarity: float) -> bool:
    """True when `new_text` states a different value for the same thing as `old_text`."""
    if similarity < MIN_SIMILARITY:
        return False
    new, old = parse(new_text), parse(old_text)
    if new is None or old is None:
        return False
    return same_subject(new, old) and new.object != old.object
