"""The text of a photo memory: what search and answers see of a picture.

"Photograph taken on Tuesday 3 March 2026 at 14:05: the garden in the snow. The camera saw:
a snowy garden with a wooden bench." The user's spoken caption comes first, in their words;
a vision model's description, when there is one, follows it (never replaces it).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

NO_CAPTION = "(no caption)"
SEEN_LEAD = "The camera saw:"

_TEXT = re.compile(
    r"^Photograph taken on (?P<when>.+? at \d{2}:\d{2})"
    r"(?:: (?P<caption>.*?))?(?: \(no caption\))?\."
    rf"(?: {re.escape(SEEN_LEAD)} (?P<seen>.*)\.)?$",
    re.DOTALL,
)


def _clause(text: str) -> str:
    return " ".join(text.split()).rstrip(".")


def photo_text(caption: str, taken: float, seen: str = "") -> str:
    """The image memory's text: the time taken, the spoken caption, what the camera saw."""
    t = time.localtime(taken)
    when = f"{time.strftime('%A', t)} {t.tm_mday} {time.strftime('%B %Y at %H:%M', t)}"
    caption, seen = _clause(caption), _clause(seen)
    head = f"Photograph taken on {when}"
    if caption:
        head += f": {caption}."
    elif seen:
        head += "."
    else:
        head += f" {NO_CAPTION}."
    return f"{head} {SEEN_LEAD} {seen}." if seen else head


@dataclass(frozen=True, slots=True)
class PhotoParts:
    when: str  # "Tuesday 3 March 2026 at 14:05"
    caption: str  # what the user said ("" if nothing)
    seen: str  # what a vision model saw ("" if none)


def photo_parts(text: str) -> PhotoParts | None:
    """The parts of a text made by `photo_text`; None for any other text (an imported
    photo's caption, say)."""
    match = _TEXT.match(text.strip())
    if match is None:
        return None
    return PhotoParts(match["when"], match["caption"] or "", match["seen"] or "")
