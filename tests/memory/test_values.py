"""The value rule of superseding: statements cut into frame and values, and the labelled
sets of updates said in many words (tests/data/updates_varied.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from secondself.memory import supersede, values

pytestmark = pytest.mark.unit

VARIED = Path(__file__).parents[1] / "data" / "updates_varied.jsonl"
HELD_OUT = Path(__file__).parents[1] / "data" / "updates_heldout.jsonl"
# Measured on the development set (25 of 30) and on phrasings not tuned on (7 of 15).
MIN_FOUND = {VARIED.name: 25, HELD_OUT.name: 7}


def labelled(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("path", [VARIED, HELD_OUT], ids=lambda p: p.name)
def test_updates_in_many_words_are_found_and_look_alikes_are_not(path: Path) -> None:
    pairs = labelled(path)
    assert len(pairs) >= 30 and {p["supersedes"] for p in pairs} == {True, False}
    said = [(p, supersede.supersedes(str(p["new"]), str(p["old"]), 1.0)) for p in pairs]
    false_supersedes = [p["why"] for p, got in said if got and not p["supersedes"]]
    found = sum(got for p, got in said if p["supersedes"])
    assert false_supersedes == []
    assert found >= MIN_FOUND[path.name]


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("My office is on the second floor.", {"number": ("2",)}),
        ("Mum's flight lands at 8:15pm", {"time": ("20:15",)}),
        ("The plumber is coming at 3 pm", {"time": ("15:00",)}),
        ("Tom's birthday is on the 4th of May", {"date": ("may 4",)}),
        ("Tom's birthday is May 4th", {"date": ("may 4",)}),
        ("I keep the key under the blue pot", {"colour": ("blue",)}),
        ("Our vet is Dr Amara these days", {"name": ("dr amara",)}),
        ("The wifi password is Daisy99", {"code": ("daisy99",)}),
        ("I go swimming on Mondays", {"date": ("monday",)}),
    ],
)
def test_values_and_their_kinds(text: str, kinds: dict[str, tuple[str, ...]]) -> None:
    frame = values.frame(text)
    assert frame is not None and frame.by_kind() == kinds


@pytest.mark.parametrize(
    "text",
    [
        "I visited Rome in May",  # an event
        "I called the bank at 10am",
        "Is my office on the fifth floor?",
        "My office is not on the fifth floor",
        "I work from home on Fridays too",  # one more, not another value
        "My office is on floor 5. The lift is broken.",  # two sentences
        "It is called the Red Lion",  # a vague subject
    ],
)
def test_what_is_no_single_current_fact_has_no_frame(text: str) -> None:
    assert values.frame(text) is None


def test_a_lead_in_clause_and_change_words_leave_the_frame_alone() -> None:
    before, after = (
        "My office is on the second floor.",
        "We moved, my office is now on the fifth floor.",
    )
    old, new = values.frame(before), values.frame(after)
    assert old is not None and new is not None
    assert (new.words, new.subject, new.people) == (old.words, old.subject, old.people)
    assert values.updates(after, before) and values.updates(before, after)


def test_values_before_the_predicate_name_the_thing() -> None:
    # Pages of one set of notes, two keys, two sisters: not one thing with two values.
    assert not values.updates(
        "meeting notes page 4 about the budget", "meeting notes page 3 about the budget"
    )
    assert not values.updates("The blue key opens the shed", "The red key opens the shed")
    assert not values.updates("My sister Maria lives in Lisbon", "My sister Anna lives in Lisbon")


def test_a_count_may_change_with_a_many_valued_verb_and_nothing_else() -> None:
    assert values.updates("I have three cats now", "I have two cats")
    assert not values.updates("I like Anna", "I like Tom")
    assert not values.updates("I have a meeting at 4pm", "I have a meeting at 3pm")


def test_a_repeat_is_no_update() -> None:
    assert not values.updates("My shoe size is 9 now", "My shoe size is 9")


def test_differ_in_value_is_looser_but_needs_one_subject() -> None:
    # Said apart: not one frame (one word too many each side), but about one office.
    assert values.differ_in_value(
        "My office is now on the fifth floor by the lifts", "I think my office is on floor two"
    )
    assert not values.differ_in_value("My son is 7", "My daughter is 9")
    assert not values.differ_in_value("Her office is on floor 2", "My office is on floor 5")
