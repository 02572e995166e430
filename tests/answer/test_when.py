"""When a memory happened, carried into answers: the prompt gives each memory's date and
what its time words mean, answers from memory say dates as of now ("yesterday" a year on is
"on Sunday 7 May 2023"), and "when" questions are answered by the memory that says when."""

from __future__ import annotations

from datetime import datetime

import pytest

from secondself.answer.direct import listing_answer, to_second_person
from secondself.answer.prompt import Source, build_messages
from secondself.answer.recall import Recalled
from secondself.answer.score import hedge, novel_grounding
from secondself.answer.when import is_when_question, when_answer
from secondself.memory import happened as happenings
from secondself.memory.happened import resolve
from secondself.memory.spoken_dates import natural_date

pytestmark = pytest.mark.unit

SAID = datetime(2023, 5, 8, 14, 0)  # Monday 8 May 2023, local time
A_YEAR_ON = datetime(2024, 6, 20, 10, 0)


def recalled(
    text: str, similarity: float = 0.8, now: datetime = A_YEAR_ON, memory_id: int = 1
) -> Recalled:
    """A memory said at SAID, recalled at `now`, as `PersonaMemory.recall` makes it."""
    happened = resolve(text, SAID.timestamp())
    relative = happened is not None and happenings.is_relative(happened)
    return Recalled(
        memory_id,
        text,
        natural_date(SAID.timestamp()),
        similarity,
        happened=happened,
        created=SAID.timestamp(),
        said_when="on 8 May 2023 at 14:00",
        happened_when=happenings.said(happened, now) if happened and relative else "",
    )


GROUP = "I went to a support group yesterday"


def test_the_prompt_gives_each_memory_its_date_and_what_its_time_words_mean() -> None:
    sources = [recalled(GROUP), recalled("my dog is called Biscuit", memory_id=2)]
    system = build_messages("When did I go to the support group?", sources)[0].content
    assert (
        "- I went to a support group yesterday. "
        "(Said on 8 May 2023; yesterday = Sunday 7 May 2023.)" in system
    )
    assert "- My dog is called Biscuit. (Said on 8 May 2023.)" in system
    # A named date means what it says: only the day it was said is added.
    named = build_messages("When did we move?", [recalled("we moved to Leeds in May 2019")])
    assert "- We moved to Leeds in May 2019. (Said on 8 May 2023.)" in named[0].content
    # A question not about time gets no day it was said (small models copy it into the
    # answer), but still what a fact's own time words mean.
    other = build_messages("What is my dog called?", sources)[0].content
    assert "- My dog is called Biscuit.\n" in other + "\n" and "Said on" not in other
    assert "- I went to a support group yesterday. (Yesterday = Sunday 7 May 2023.)" in other
    plain = build_messages("?", [Source(3, "my sister lives in Lyon", "", 0.7)])[0].content
    assert "- My sister lives in Lyon.\n" in plain + "\n"


def test_an_answer_from_memory_says_the_date_not_yesterday() -> None:
    assert to_second_person(recalled(GROUP).retimed) == (
        "You went to a support group on Sunday 7 May 2023."
    )
    # Recalled the next day, "yesterday" is said as of then; the same day, as it was said.
    next_day = recalled(GROUP, now=datetime(2023, 5, 9, 9, 0))
    assert next_day.retimed == "I went to a support group last Sunday"
    assert recalled(GROUP, now=SAID).retimed == GROUP
    # Other phrases, wherever they stand in the sentence and however they are written.
    assert recalled("Two weeks ago I started a pottery class").retimed == (
        "in the week of 24 April 2023 I started a pottery class"
    )
    assert recalled("we went camping LAST  weekend").retimed == (
        "we went camping over the weekend of 6 and 7 May 2023"
    )
    assert recalled("I ran a marathon last year").retimed == "I ran a marathon in 2022"
    # Kept as said: a named date, no time at all, "yesterday's" (not a time of the sentence).
    for kept in ["we moved to Leeds in May 2019", "my dog is called Biscuit", "yesterday's news"]:
        assert recalled(kept).retimed == kept
    assert Source(3, GROUP, "", 0.8).retimed == GROUP  # not recalled: no time to say
    # The same for a listing and a hedge, which say the memory too.
    assert listing_answer("What did I save last year?", [recalled(GROUP)]) == (
        "On 8 May 2023 at 14:00 you told me: you went to a support group on Sunday 7 May 2023."
    )
    assert hedge([recalled(GROUP)]) == (
        "I'm not sure. What I know is: I went to a support group on Sunday 7 May 2023."
    )


@pytest.mark.parametrize(
    ("question", "when"),
    [
        ("When did I go to the support group?", True),
        ("what day did I go to the support group", True),
        ("On which day did I go?", True),
        ("How long ago did I go to the support group?", True),
        ("What year did we move to Leeds?", True),
        ("Where did I go yesterday?", False),
        ("What is my dog called?", False),
    ],
)
def test_when_questions(question: str, when: bool) -> None:
    assert is_when_question(question) is when


def test_a_when_question_is_answered_by_the_one_memory_that_says_when() -> None:
    group = recalled(GROUP, 0.9)
    other = recalled("The support group meets on Tuesdays", 0.7, memory_id=2)
    ask = "When did I go to the support group?"
    assert when_answer(ask, [group, other], threshold=0.6) is group  # "go" is said "went"
    assert when_answer("How long ago did I go to the support group?", [group], 0.6) is group
    caroline = recalled("Caroline went to a LGBTQ support group yesterday", 0.8)
    assert when_answer("When did Caroline go to the LGBTQ support group?", [caroline], 0.6)
    assert to_second_person(caroline.retimed) == (
        "Caroline went to a LGBTQ support group on Sunday 7 May 2023."
    )
    # Not when: no time in the memory, too far, too close a second, a word it does not name.
    assert when_answer(ask, [recalled("I went to a support group", 0.9)], 0.6) is None
    assert when_answer(ask, [recalled(GROUP, 0.5)], 0.6) is None
    assert when_answer(ask, [group, recalled("I went to a book group", 0.85)], 0.6) is None
    assert when_answer("When did I go to the gym?", [group], 0.6) is None
    assert when_answer("What did I do at the support group?", [group], 0.6) is None
    assert when_answer(ask, [group], threshold=0) is None  # 0: always the model


def test_an_answer_that_says_the_resolved_date_is_grounded() -> None:
    sentence = "You went to the support group on Sunday 7 May 2023."
    question = "When did I go to the support group?"
    assert novel_grounding(sentence, question, [recalled(GROUP)]) == 1.0
    assert novel_grounding(sentence, question, [Source(1, GROUP, "", 0.8)]) < 0.5
