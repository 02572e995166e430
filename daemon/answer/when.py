"""Answers to "when" questions said straight from memory: the one memory that answers, with
the time its words name said as a date ("When did I go to the support group?" -> "You went
to a support group on Sunday 7 May 2023.").

The memory must say when ("yesterday", "last Friday", "in May 2019"); one that does not is
left to the other answers, which know when it was said.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from secondself.answer.direct import MARGIN
from secondself.answer.prompt import Source
from secondself.answer.score import content_words

WHEN_QUESTION = re.compile(
    r"^\s*(?:when\b|(?:on |in )?(?:what|which) (?:day|date|month|year)\b|how long ago\b)",
    re.IGNORECASE,
)
# Words a when-question uses without naming what it is about.
_ASKING = frozenset("when day date month year long ago how".split())
# A question asks "did I go", the memory says "I went": the past forms of common verbs
# that do not add -ed.
_IRREGULAR = {
    base: forms.split(",")
    for base, forms in (
        pair.split(":")
        for pair in """go:went,gone see:saw,seen meet:met buy:bought get:got have:had
        make:made take:took,taken come:came give:gave,given tell:told find:found leave:left
        pay:paid eat:ate,eaten run:ran begin:began,begun fly:flew,flown drive:drove,driven
        write:wrote,written speak:spoke,spoken sell:sold send:sent spend:spent lose:lost
        win:won break:broke,broken bring:brought think:thought teach:taught catch:caught
        feel:felt keep:kept sleep:slept swim:swam sing:sang sit:sat stand:stood hear:heard
        ride:rode wear:wore choose:chose fall:fell hold:held know:knew grow:grew throw:threw
        become:became do:did,done""".split()
    )
}


def is_when_question(question: str) -> bool:
    return bool(WHEN_QUESTION.match(question))


def _forms(word: str) -> set[str]:
    """A question's word and the forms a memory may say it in (go: went, goes, going)."""
    forms = {word, word + "s", word + "es", word + "ed", word + "d", word + "ing"}
    forms.update(_IRREGULAR.get(word, ()))
    if word.endswith("y"):
        forms.add(word[:-1] + "ied")
    if word.endswith("e"):
        forms.add(word[:-1] + "ing")
    if len(word) > 2:
        forms.update({word + word[-1] + "ed", word + word[-1] + "ing"})  # stop: stopped
    return forms


def when_answer(question: str, sources: Sequence[Source], threshold: float) -> Source | None:
    """The one recalled memory that answers a when-question and says when, if there is one.

    As for any answer from memory (`direct.direct_answer`), it must be close in meaning and
    clearly the closest, and name everything the question is about (in any verb form).
    """
    if not is_when_question(question) or not sources or threshold <= 0:
        return None
    ranked = sorted(sources, key=lambda s: s.similarity, reverse=True)
    best = ranked[0]
    if best.happened is None or best.similarity < threshold:
        return None
    if len(ranked) > 1 and best.similarity - ranked[1].similarity < MARGIN:
        return None
    said = content_words(best.text)
    if any(not _forms(word) & said for word in content_words(question) - _ASKING):
        return None
    return best
