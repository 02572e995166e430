"""The value rule of superseding: statements cut into frame and values, and the labelled
sets of updates said in many words (tests/data/updates_varied.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from secondself.memory import supersede, values

pytestmark = pytest.mark.unit

DATA = Path(__file__).parents[1] / "data"
VARIED = DATA / "updates_varied.jsonl"  # the development set
HELD_OUT = DATA / "updates_heldout.jsonl"  # written after tuning (then two bugs fixed on it)
HELD_OUT_2 = DATA / "updates_heldout2.jsonl"  # written after all tuning, never tuned on
SETS = [VARIED, HELD_OUT, HELD_OUT_2]
# (updates found at least, look-alikes retired at most), as measured: a floor, not a goal.
MEASURED = {VARIED.name: (25, 0), HELD_OUT.name: (7, 0), HELD_OUT_2.name: (3, 1)}


def labelled(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("path", SETS, ids=lambda p: p.name)
def test_updates_in_many_words_are_found_and_look_alikes_are_not(path: Path) -> None:
    pairs = labelled(path)
    assert len(pairs) >= 20 and {p["supersedes"] for p in pairs} == {True, False}
    said = [(p, supersede.supersedes(str(p["new"]), str(p["old"]), 1.0)) for p in pairs]
    false_supersedes = [p["why"] for p, got in said if got and not p["supersedes"]]
    found = sum(got for p, got in said if p["supersedes"])
    least_found, most_false = MEASURED[path.name]
    assert found >= least_found and len(false_supersedes) <= most_false, false_supersedes


def test_the_development_set_has_forty_pairs_and_more_of_many_shapes() -> None:
    pairs = labelled(VARIED)
    assert len(pairs) >= 40 and sum(bool(p["supersedes"]) for p in pairs) >= 20
    assert all(
        p["question"] and p["new_value"] and p["old_value"] for p in pairs if p["supersedes"]
    )


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


def test_may_differ_needs_what_each_is_about_and_whose() -> None:
    gp = ("My GP is Dr Walsh", "I've switched GP, it's Dr Mensah now")
    assert values.may_differ(*gp) and not values.updates(gp[1], gp[0])
    boiler = ("Our boiler engineer is Kev", "We use Marta for the boiler now")
    assert values.may_differ(*boiler, loosely=True) and not values.may_differ(*boiler)
    assert not values.may_differ("My dog is called Rex", "My neighbour's dog is called Max")
    assert not values.may_differ("My sister lives in Paris", "My brother lives in Rome")
    assert not values.may_differ("I visited Rome in May", "I visited Paris in June")


def test_differ_in_value_is_looser_but_needs_one_subject() -> None:
    # Said apart: not one frame (one word too many each side), but about one office.
    assert values.differ_in_value(
        "My office is now on the fifth floor by the lifts", "I think my office is on floor two"
    )
    assert not values.differ_in_value("My son is 7", "My daughter is 9")
    assert not values.differ_in_value("Her office is on floor 2", "My office is on floor 5")
