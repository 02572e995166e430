"""When two recalled memories give one thing two values, the newer wins, before any answer
is made: the small answer model picks the older of two conflicting facts it is shown.

Memories saved since the supersede rule knew their phrasing, imported with their own links,
or too far apart for the writer's search can both still be current. Here, among the few
memories recalled for one question:

- they conflict: the newer updates the older by the rule the writer uses
  (`supersede.supersedes`), or, more loosely, they are about one subject and a value of one
  kind differs (`values.differ_in_value`): the older is left out and the newer is marked
  disputed (an answer from it is less sure);
- they may conflict: they name first what they are about and a value of one kind differs
  (`values.may_differ`, which also catches look-alikes: two keys of two colours): when the
  newer holds all the question asks of the older, the older is left out (and the newer is
  disputed); else, and when only one of them names first what the other is about, both are
  kept, the newer first, the older marked outdated: never said as the answer by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from secondself.answer.recalled import Recalled
from secondself.answer.score import content_words
from secondself.memory import supersede, values


def settle(question: str, recalled: Sequence[Recalled]) -> list[Recalled]:
    """The recalled memories, newer before older where they may conflict, the older left out
    where they do."""
    kept = list(recalled)
    dropped: set[int] = set()
    for n, newer in enumerate(recalled):
        for m, older in enumerate(recalled):
            if not _older(older, m, newer, n) or {n, m} & dropped:
                continue
            if _conflict(newer.text, older.text) or (
                values.may_differ(newer.text, older.text) and _covers(question, newer, older)
            ):
                dropped.add(m)
                kept[n] = replace(kept[n], disputed=True)
            elif values.may_differ(newer.text, older.text, loosely=True):
                kept[m] = replace(kept[m], outdated=True)
    survivors = [r for n, r in enumerate(kept) if n not in dropped]
    # The outdated after the rest, each group in the search's order.
    return [r for r in survivors if not r.outdated] + [r for r in survivors if r.outdated]


def _conflict(newer: str, older: str) -> bool:
    return supersede.supersedes(newer, older, similarity=1.0) or values.differ_in_value(
        newer, older
    )


def _covers(question: str, newer: Recalled, older: Recalled) -> bool:
    """Whether the newer memory holds every word the question shares with the older: then
    the older has nothing to add but its other value ("Who is my GP?"; not "Which key opens
    the shed?" of "the red key opens the shed" and "the blue key opens the garage")."""
    asked = _stems(question) & _stems(older.text)
    return asked <= _stems(newer.text)


def _stems(text: str) -> set[str]:
    return {w.removesuffix("s") for w in content_words(text)}


def _older(a: Recalled, a_at: int, b: Recalled, b_at: int) -> bool:
    """Whether `a` was made before `b` (at one time: the later in the list is older)."""
    return a.created < b.created or (a.created == b.created and a_at > b_at)
