"""What a question asks of the memory: memories made at some time, photographs, a listing.

"What did I photograph yesterday?" asks for the photos taken yesterday, every one of them;
"Did I photograph a bicycle on Monday?" for Monday's photos about a bicycle. "What did I eat
yesterday?" or "What did the doctor say yesterday?" name a time, but not the time a memory was
made (it may have been told about today), so they are searched by their words alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from secondself.answer.score import content_words
from secondself.memory.time_words import TimePhrase, find_time_phrase, normalize

PHOTO_WORDS = frozenset(
    """photo photos photograph photographs photographed picture pictures pic pics snapshot
    snapshots snap snaps snapped""".split()
)
# Making a memory: a time phrase next to one of these, said by "I" or "you", says when the
# memory was made ("what did I say yesterday"; not "what did the doctor say yesterday").
SAVING_WORDS = PHOTO_WORDS | frozenset(
    """save saved say said tell told note noted notes record recorded remember remembered
    mention mentioned show showed shown store stored add added memo memos ask asked""".split()
)
TAKING = frozenset({"take", "took", "taken"})  # of a photo, yes; of medicine, no
_SPEAKER = re.compile(r"\b(i|you|we)\b")
# Words of a listing question that name nothing to look for.
LISTING_WORDS = frozenset(
    "you me anything something everything all thing things stuff list give any how many".split()
)


@dataclass(frozen=True, slots=True)
class Asked:
    phrase: TimePhrase | None  # when the memories asked about were made (None: any time)
    photos: bool  # about photographs: image memories first
    listing: bool  # names nothing but the time or the photos: every such memory answers


def asked(question: str) -> Asked:
    text = normalize(question)
    phrase = find_time_phrase(text)
    rest = text if phrase is None else f"{text[: phrase.start]} {text[phrase.end :]}"
    words = content_words(rest)
    photos = bool(words & PHOTO_WORDS)
    made = photos or bool(words & SAVING_WORDS and _SPEAKER.search(rest))
    if phrase is not None and not made:
        phrase = None  # a time of something else, not of making a memory
    about = words - SAVING_WORDS - TAKING - LISTING_WORDS
    return Asked(phrase, photos, listing=(phrase is not None or photos) and not about)
