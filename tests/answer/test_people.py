"""Who memories are about, and what follows: a sentence about one person is not grounded by
what another said, the personal score falls with it, a declined answer scores nothing, and
the hedge is one sentence, never a raw memory."""

from __future__ import annotations

import asyncio

import pytest

from secondself.answer import people
from secondself.answer.hedge import hedge
from secondself.answer.phrases import DONT_KNOW
from secondself.answer.prompt import Source
from secondself.answer.score import novel_grounding, personal_score
from secondself.answer.turn import Conversation
from secondself.core.bus import Bus
from tests.support.fakes import (
    ListMemory,
    RecordingSpeaker,
    ScriptedAnswerModel,
    ScriptedTranscriber,
    ToneSynthesizer,
)

pytestmark = pytest.mark.unit

AUDREY_JEWELLERY = Source(1, "Audrey: I love making jewelry out of recycled stuff.", "", 0.6)
ANDREW_WALK = Source(2, "Andrew: Hey Audrey! I took Toby for a long walk today.", "", 0.5)


def test_the_speaker_of_a_turn_and_none_for_a_note() -> None:
    assert people.speaker(AUDREY_JEWELLERY.text) == "Audrey"
    assert people.speaker("My dog is called Biscuit") is None
    assert people.speakers([AUDREY_JEWELLERY, ANDREW_WALK]) == {"Audrey", "Andrew"}


@pytest.mark.parametrize(
    ("text", "known", "expected"),
    [
        ("What type of jewelry does Andrew make?", (), {"Andrew"}),
        ("When is Tom's birthday?", (), {"Tom"}),
        ("What did James' dog do in May 2023?", (), {"James"}),  # no months, no 's
        ("Andrew makes jewelry.", {"Andrew"}, {"Andrew"}),  # a known speaker, first or not
        ("Andrew makes jewelry.", (), set()),  # a capital first word is no name by itself
        ("What did I do at the IT job on Monday?", (), set()),  # acronyms, days
    ],
)
def test_the_names_a_text_gives(text: str, known: set[str], expected: set[str]) -> None:
    assert people.names(text, known) == expected


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("Andrew: Hey Audrey! I took Toby for a walk.", "Audrey", False),  # spoken to
        ("Andrew: Thanks, Audrey!", "Audrey", False),
        ("Andrew: Wow, that's great news, Audrey.", "Audrey", False),
        ("Andrew: Audrey's dogs love the snow.", "Audrey", True),
        ("Andrew: I went hiking with Audrey last week.", "Audrey", True),
        ("my sister Anna lives in Lisbon", "anna", True),  # any case
        ("my sister Anna lives in Lisbon", "Ann", False),  # whole words only
    ],
)
def test_a_name_spoken_to_is_not_what_a_text_is_about(text: str, name: str, expected: bool) -> None:
    assert people.mentions(text, name) is expected


def test_what_someone_else_said_does_not_ground_a_sentence_about_another() -> None:
    sources = [AUDREY_JEWELLERY, ANDREW_WALK]
    question = "What type of jewelry does Andrew make?"
    assert novel_grounding("Andrew makes jewelry out of recycled objects.", question, sources) < 0.5
    asked_of_audrey = "What type of jewelry does Audrey make?"
    assert (
        novel_grounding("Audrey makes jewelry out of recycled stuff.", asked_of_audrey, sources)
        >= 0.5  # grounded enough to be said
    )
    # A note names no one: every memory grounds it, as before.
    notes = [Source(3, "My dog is called Biscuit", "", 0.7)]
    assert novel_grounding("Your dog is called Biscuit.", "What is my dog called?", notes) == 1.0


def test_the_score_falls_when_the_answer_rests_on_someone_else() -> None:
    sources = [AUDREY_JEWELLERY, ANDREW_WALK]
    theirs = personal_score("Audrey makes jewelry out of recycled stuff.", sources, None)
    borrowed = personal_score("Andrew makes jewelry out of recycled stuff.", sources, None)
    assert theirs.supporting_ids == (1,)
    assert borrowed.grounding < 0.5 < theirs.grounding
    assert borrowed.score < theirs.score - 20


@pytest.mark.parametrize(
    "answer",
    [DONT_KNOW, "I don't know.", "I'm not sure, but you told me that your dog is called Biscuit."],
)
def test_a_declined_answer_scores_nothing(answer: str) -> None:
    sources = [Source(3, "My dog is called Biscuit", "", 0.9)]
    assert personal_score(answer, sources, None).score == 0


def test_the_hedge_says_one_short_close_note_back_facing_the_user() -> None:
    close = Source(3, "My office is on the fifth floor.", "", 0.8)
    assert hedge("Which room is my office?", [close]) == (
        "I'm not sure, but you told me that your office is on the fifth floor."
    )


@pytest.mark.parametrize(
    "sources",
    [
        [],
        [Source(3, "My office is on the fifth floor.", "", 0.3)],  # not close to the question
        [AUDREY_JEWELLERY],  # a chat turn, not the user's note
        [Source(4, "Notes from the budget meeting. " * 6, "", 0.9)],  # a document
    ],
)
def test_the_hedge_never_reads_out_a_raw_memory(sources: list[Source]) -> None:
    assert hedge("Which room is my office?", sources) == DONT_KNOW


def test_the_hedge_says_nothing_of_someone_else() -> None:
    tom = Source(5, "Anna's birthday is on June 3", "", 0.8)
    assert hedge("When is Tom's birthday?", [tom]) == DONT_KNOW


def converse(memories: tuple[str, ...], model_says: str) -> Conversation:
    return Conversation(
        Bus(),
        ScriptedTranscriber([]),
        ListMemory(Bus(), memories),
        ScriptedAnswerModel([model_says]),
        ToneSynthesizer(),
        RecordingSpeaker(),
    )


def test_a_question_about_someone_the_memories_are_not_about_is_declined() -> None:
    talk = converse(("Anna's birthday is on June 3",), "Tom's birthday is on June 3.")
    result = asyncio.run(talk.answer("When is Tom's birthday?"))
    assert result.reply == DONT_KNOW
    assert talk.last_score is not None and talk.last_score.score == 0


def test_the_other_side_of_a_chat_does_not_answer_for_someone_else() -> None:
    turns = (
        "Audrey: I love making jewelry out of recycled stuff.",
        "Andrew: I took Toby for a long walk in the park today.",
    )
    borrowed = converse(turns, "Andrew makes jewelry out of recycled objects.")
    result = asyncio.run(borrowed.answer("What type of jewelry does Andrew make?"))
    assert result.reply == DONT_KNOW
    theirs = converse(turns, "Audrey makes jewelry out of recycled stuff.")
    result = asyncio.run(theirs.answer("What type of jewelry does Audrey make?"))
    assert result.reply == "Audrey makes jewelry out of recycled stuff."
    assert theirs.last_score is not None and theirs.last_score.score > 50


def test_what_a_speaker_asks_or_tells_you_is_not_said_of_them() -> None:
    turn = (
        "Andrew: It's great that you're giving recycled objects new life. Do you sell it? I hike."
    )
    assert people.said_of(turn, {"Andrew"}) == "Andrew: I hike."
    # ... and what Andrew tells "you" is of the other side of the chat, not his questions.
    assert people.said_of(turn, {"Audrey"}) == (
        "It's great that you're giving recycled objects new life."
    )
    assert people.said_of("Andrew: I hike.", {"Audrey"}) == ""
    assert people.said_of("Audrey: Andrew's dog is Toby.", {"Andrew"}).endswith("Toby.")
    assert people.said_of("My dog is called Biscuit", set()) == "My dog is called Biscuit"


def test_whom_a_text_is_about_speakers_first() -> None:
    sources = [AUDREY_JEWELLERY, ANDREW_WALK]
    assert people.named("Andrew's childhood dog is Max.", sources) == {"Andrew"}
    assert people.named("When is Tom's birthday?", sources) == {"Tom"}
