"""Turn a spoken correction ("No, it's Rex.") into a whole fact ("my dog is called Rex").

A bare "Rex" would be useless to search and to the model; rewritten into the memory the
answer leaned on, it is a fact the store can supersede the old one with.
"""

from __future__ import annotations

import re

from secondself.score import content_words


def corrected_fact(correction: str, answer: str, question: str, memory_text: str) -> str:
    """The memory with the answer's wrong part replaced by the correction, else a note."""
    correction = correction.strip().rstrip(".!")
    wrong = [
        w
        for w in re.findall(r"[\w']+", answer)
        if w.lower().removesuffix("'s") in content_words(answer) - content_words(question)
        and re.search(rf"\b{re.escape(w)}\b", memory_text, re.IGNORECASE)
    ]
    if len(wrong) == 1:
        return re.sub(rf"\b{re.escape(wrong[0])}\b", correction, memory_text, count=1, flags=re.I)
    return f"{correction} (not: {memory_text.strip().rstrip('.')})"
