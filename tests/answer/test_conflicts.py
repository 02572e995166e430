"""Two recalled memories giving one thing two values: the newer wins before any answer is
made, a direct answer never comes from the older, and the score is less sure."""

from __future__ import annotations

import pytest

from secondself.answer import conflicts
from secondself.answer.direct import direct_answer
from secondself.answer.recalled import Recalled
from secondself.answer.score import personal_score

pytestmark = pytest.mark.unit

QUESTION = "Which floor is my office on?"
SHED = "Which key opens the shed?"


def recalled(memory_id: int, text: str, similarity: float, created: float) -> Recalled:
    return Recalled(memory_id, text, "", similarity, created=created)


def test_an_older_memory_the_newer_updates_is_left_out() -> None:
    old = recalled(1, "My office is on the second floor.", 0.84, created=1.0)
    new = recalled(2, "We moved, my office is now on the fifth floor.", 0.68, created=2.0)
    settled = conflicts.settle(QUESTION, [old, new])
    assert [r.memory_id for r in settled] == [2]
    assert settled[0].disputed and not settled[0].outdated


def test_memories_about_one_subject_with_another_value_conflict() -> None:
    # One office, two floors, said too differently for the update rule.
    old = recalled(1, "My office is on floor two near the big lifts", 0.8, 1.0)
    new = recalled(2, "My office is on the fifth floor", 0.7, 2.0)
    settled = conflicts.settle(QUESTION, [old, new])
    assert [(r.memory_id, r.disputed) for r in settled] == [(2, True)]


def test_a_newer_memory_that_holds_all_the_question_asks_wins_though_said_apart() -> None:
    # One GP, two names, in two shapes: no frame in common, but the GP and a name.
    old = recalled(1, "My GP is Dr Walsh", 0.8, 1.0)
    new = recalled(2, "I've switched GP, it's Dr Mensah now", 0.7, 2.0)
    settled = conflicts.settle("Who is my GP?", [old, new])
    assert [(r.memory_id, r.disputed) for r in settled] == [(2, True)]


def test_memories_that_may_conflict_are_both_kept_the_newer_first() -> None:
    # Two keys or one? The question asks of the shed, which only the older names.
    old = recalled(1, "The red key opens the shed", 0.8, 1.0)
    new = recalled(2, "The blue key opens the garage", 0.6, 2.0)
    other = recalled(3, "The shed roof leaks", 0.5, 0.5)
    settled = conflicts.settle(SHED, [old, other, new])
    assert [r.memory_id for r in settled] == [3, 2, 1]
    assert [(r.disputed, r.outdated) for r in settled] == [(False, False)] * 2 + [(False, True)]


@pytest.mark.parametrize(
    ("old_text", "new_text"),
    [
        ("My sister lives in Paris.", "My brother lives in Rome."),
        ("I visited Rome in May.", "I visited Paris in June."),
        ("I like tea.", "I like coffee."),
    ],
)
def test_memories_that_only_look_alike_are_left_as_they_are(old_text: str, new_text: str) -> None:
    both = [recalled(1, old_text, 0.7, 1.0), recalled(2, new_text, 0.6, 2.0)]
    assert conflicts.settle("Where do they live?", both) == both


def test_a_direct_answer_never_comes_from_a_memory_a_newer_one_may_contradict() -> None:
    old = recalled(1, "The red key opens the shed", 0.9, 1.0)
    new = recalled(2, "The blue key opens the garage", 0.5, 2.0)
    # Without the newer memory the older is the answer itself ...
    assert direct_answer(SHED, [old]) == old
    # ... with it, the model is asked, shown the newer first.
    settled = conflicts.settle(SHED, [old, new])
    assert settled[-1].outdated and direct_answer(SHED, settled) is None


def test_the_score_is_less_sure_of_an_answer_from_a_disputed_memory() -> None:
    alone = recalled(2, "My office is on the fifth floor", 0.7, 2.0)
    old = recalled(1, "My office is on floor two near the big lifts", 0.9, 1.0)
    answer = "Your office is on the fifth floor."
    undisputed = personal_score(answer, [alone], None)
    disputed = personal_score(answer, conflicts.settle(QUESTION, [old, alone]), None)
    assert not undisputed.disputed and disputed.disputed
    assert disputed.score <= 0.75 * undisputed.score


def test_items_of_a_list_are_no_conflict() -> None:
    items = [
        recalled(n, f"Shopping item {n}: oat milk and bread", 0.6, float(n)) for n in (1, 2, 3)
    ]
    assert conflicts.settle("What is on my shopping list?", items) == items
