"""When two recalled memories give one thing two values, the newer wins, before any answer
is made: the small answer model picks the older of two conflicting facts it is shown.

Memories saved since the supersede rule knew their phrasing, imported with their own links,
or too far apart for the writer's search can both still be current. Here, among the few
memories recalled for one question:

- the newer updates the older by the rule the writer uses (`supersede.supersedes`): the
  older is left out;
- they only may conflict (`values.differ_in_value`: one subject, a value of one kind that
  differs): both are kept, the newer first, the older marked outdated (never said as the
  answer by itself);

and in both cases the memories are marked disputed: an answer from them is less sure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from secondself.answer.recalled import Recalled
from secondself.memory import supersede, values


def settle(recalled: Sequence[Recalled]) -> list[Recalled]:
    """The recalled memories, newer before older where they conflict, the updated left out."""
    kept = list(recalled)
    dropped: set[int] = set()
    for n, newer in enumerate(recalled):
        for m, older in enumerate(recalled):
            if not _older(older, m, newer, n) or {n, m} & dropped:
                continue
            if supersede.supersedes(newer.text, older.text, similarity=1.0):
                dropped.add(m)
                kept[n] = replace(kept[n], disputed=True)
            elif values.differ_in_value(newer.text, older.text):
                kept[n] = replace(kept[n], disputed=True)
                kept[m] = replace(kept[m], disputed=True, outdated=True)
    survivors = [r for n, r in enumerate(kept) if n not in dropped]
    # The outdated after the rest, each group in the search's order.
    return [r for r in survivors if not r.outdated] + [r for r in survivors if r.outdated]


def _older(a: Recalled, a_at: int, b: Recalled, b_at: int) -> bool:
    """Whether `a` was made before `b` (at one time: the later in the list is older)."""
    return a.created < b.created or (a.created == b.created and a_at > b_at)
