"""Orchestration of one turn, with small fakes behind the stage Protocols."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from secondself.answer.correction import corrected_fact
from secondself.answer.direct import direct_answer, to_second_person
from secondself.answer.intent import Intent
from secondself.answer.phrases import DONT_KNOW, REPLIES
from secondself.answer.prompt import Source
from secondself.answer.turn import Conversation
from secondself.core.bus import Bus
from secondself.core.events import (
    AnswerDone,
    Event,
    IntentRecognized,
    MemoriesRetrieved,
    MemoryForgotten,
    MemorySaved,
    SpeakingDone,
    Transcript,
)
from tests.support.fakes import (
    ListMemory,
    RecordingSpeaker,
    ScriptedAnswerModel,
    ScriptedTranscriber,
    ToneSynthesizer,
)

pytestmark = pytest.mark.unit

AUDIO = np.zeros(16000, dtype=np.int16)


def build(
    texts: list[str],
    answer: ScriptedAnswerModel | None = None,
    speaker: RecordingSpeaker | None = None,
    memories: tuple[str, ...] = ("my dog is called Biscuit", "my dog is three years old"),
) -> tuple[Conversation, list[Event], ListMemory, ToneSynthesizer, RecordingSpeaker]:
    bus = Bus()
    events: list[Event] = []
    memory = ListMemory(bus, memories)
    bus.on(events.append)
    synth = ToneSynthesizer()
    speaker = speaker or RecordingSpeaker()
    conversation = Conversation(
        bus,
        ScriptedTranscriber(texts),
        memory,
        answer or ScriptedAnswerModel(["Your dog ", "is called ", "Biscuit."]),
        synth,
        speaker,
    )
    return conversation, events, memory, synth, speaker


def test_remember_then_ask_uses_the_memory() -> None:
    answer = ScriptedAnswerModel(["Your dog ", "is called ", "Biscuit."])
    conversation, events, memory, synth, _ = build(
        ["Hey Jarvis, remember that my dog is called Biscuit.", "What is my dog's name?"],
        answer,
        memories=(),
    )

    async def scenario() -> None:
        saved = await conversation.turn(AUDIO)
        assert saved.intent is Intent.REMEMBER
        asked = await conversation.turn(AUDIO)
        assert asked.reply == "Your dog is called Biscuit."
        assert [s.text for s in asked.sources] == ["my dog is called Biscuit"]
        assert {"stt", "memory", "first_token", "first_audio", "answer"} <= set(asked.timings_ms)

    asyncio.run(scenario())
    assert list(memory.memories.values()) == ["my dog is called Biscuit"]
    assert synth.spoken == [REPLIES["saved"], "Your dog is called Biscuit."]
    # The memory reached the model's prompt.
    assert "My dog is called Biscuit." in answer.seen[0][0].content
    names = [e.name for e in events]
    assert names[:4] == ["Transcript", "IntentRecognized", "MemorySaved", "Speaking"]
    assert isinstance(events[0], Transcript) and events[0].duration_s == 1.0
    assert any(isinstance(e, MemoriesRetrieved) and e.ids == (1,) for e in events)
    assert any(isinstance(e, AnswerDone) and e.tokens == 3 for e in events)


def test_first_sentence_plays_while_the_answer_is_still_being_generated() -> None:
    answer = ScriptedAnswerModel(
        ["Your dog is called Biscuit. ", "He is three ", "years old."], hold_after=0
    )
    speaker = RecordingSpeaker()
    # When the first sentence reaches the speaker, the model must still be generating.
    overlap: list[bool] = []
    speaker.on_play.append(lambda: overlap.append(not answer.finished.is_set()))
    speaker.on_play.append(answer.release.set)
    conversation, _, _, synth, _ = build(["Tell me about my dog"], answer, speaker)
    result = asyncio.run(conversation.turn(AUDIO))
    assert overlap[0] is True
    assert synth.spoken == ["Your dog is called Biscuit.", "He is three years old."]
    assert result.reply == "Your dog is called Biscuit. He is three years old."


def test_stop_interrupts_playback_and_generation() -> None:
    answer = ScriptedAnswerModel(["A long first sentence here. ", "And more. ", "And more."])
    speaker = RecordingSpeaker(hold=True)
    conversation, events, _, _, _ = build(["Tell me a story about my dog"], answer, speaker)

    async def scenario() -> bool:
        task = asyncio.create_task(conversation.turn(AUDIO))
        await asyncio.to_thread(speaker.started.wait, 5)
        conversation.stop()
        result = await asyncio.wait_for(task, 5)
        return result.interrupted

    assert asyncio.run(scenario()) is True
    assert len(speaker.played) == 1
    assert [e for e in events if isinstance(e, SpeakingDone)][-1].interrupted


def test_follow_up_sees_the_previous_turn() -> None:
    answer = ScriptedAnswerModel(["Your dog is called Biscuit."])
    conversation, _, _, _, _ = build(["What is my dog's name?", "And how old is he?"], answer)

    async def scenario() -> None:
        await conversation.turn(AUDIO)
        await conversation.turn(AUDIO)

    asyncio.run(scenario())
    second = answer.seen[1]
    assert [m.role for m in second] == ["system", "user", "assistant", "user"]
    assert second[1].content == "What is my dog's name?"
    assert second[2].content == "Your dog is called Biscuit."


def test_forget_by_voice_removes_and_says_how_many() -> None:
    conversation, events, memory, synth, _ = build(
        ["Remember that the spare key is under the blue pot.", "Forget the spare key."],
        memories=(),
    )

    async def scenario() -> None:
        await conversation.turn(AUDIO)
        await conversation.turn(AUDIO)

    asyncio.run(scenario())
    assert memory.memories == {}
    assert synth.spoken[-1] == "Done. I forgot 1 memory."
    assert any(isinstance(e, MemoryForgotten) and e.memory_ids == (1,) for e in events)


def test_after_a_forget_elsewhere_no_answer_is_built_from_the_earlier_turns() -> None:
    answer = ScriptedAnswerModel(["Your dog is called Biscuit."])
    conversation, _, memory, synth, _ = build(
        ["What is my dog's name?", "And what is he called again?", "How sure are you?"], answer
    )

    async def scenario() -> None:
        await conversation.turn(AUDIO)
        memory.forget_matching("called Biscuit")  # on the page, or by the CLI
        await conversation.turn(AUDIO)
        await conversation.turn(AUDIO)

    asyncio.run(scenario())
    assert synth.spoken[1] == DONT_KNOW  # the follow-up: no history left to answer from
    assert all("Biscuit" not in m.content for seen in answer.seen[1:] for m in seen)
    assert synth.spoken[2] == REPLIES["not_answered_yet"]  # nor the forgotten answer's score


def test_an_answer_whose_memory_is_forgotten_while_it_plays_is_not_kept() -> None:
    speaker = RecordingSpeaker()
    conversation, _, memory, _, _ = build(["What is my dog's name?"], speaker=speaker)
    speaker.on_play.append(lambda: memory.forget_matching("called Biscuit"))  # on the page
    result = asyncio.run(conversation.turn(AUDIO))
    assert result.reply == "Your dog is called Biscuit."
    assert memory.turns == []  # not saved into the conversation log
    assert not conversation.history and conversation.last_score is None


def test_correction_is_saved_as_a_correction_of_what_the_answer_used() -> None:
    answer = ScriptedAnswerModel(["Your dog is called Biscuit."])
    conversation, events, memory, _, _ = build(
        ["What is my dog called?", "No, it's Rex."], answer, memories=("my dog is called Biscuit",)
    )

    async def scenario() -> None:
        await conversation.turn(AUDIO)
        await conversation.turn(AUDIO)

    asyncio.run(scenario())
    assert memory.turns == [("What is my dog called?", "Your dog is called Biscuit.", [1])]
    correction = max(memory.kinds)
    assert memory.kinds[correction] == "correction"
    assert memory.memories[correction] == "my dog is called Rex"
    assert memory.corrects[correction] == 1
    assert any(isinstance(e, MemorySaved) and e.kind == "correction" for e in events)
    assert any(isinstance(e, IntentRecognized) and e.intent == "correct" for e in events)


def test_a_question_no_memory_answers_is_not_guessed() -> None:
    answer = ScriptedAnswerModel(["Your cat is called Biscuit."])
    conversation, *_ = build(["Who is my dentist?"], answer)
    result = asyncio.run(conversation.turn(AUDIO))
    assert result.reply == "I don't know that yet."
    assert result.backend == "memory"
    assert answer.seen == []  # the model was not asked to guess


def test_an_answer_the_memories_do_not_support_is_not_spoken() -> None:
    made_up = ScriptedAnswerModel(["Biscuit loves cheese and long walks."])
    conversation, *_ = build(["What does my dog like?"], made_up)
    result = asyncio.run(conversation.turn(AUDIO))
    assert result.reply == "I'm not sure. What I know is: my dog is called Biscuit."


def test_an_unsupported_later_sentence_ends_the_answer() -> None:
    answer = ScriptedAnswerModel(
        ["Your dog is called Biscuit. ", "He won a prize at Crufts. ", "He is three years old."]
    )
    conversation, _, _, synth, _ = build(["Tell me about my dog"], answer)
    result = asyncio.run(conversation.turn(AUDIO))
    assert result.reply == "Your dog is called Biscuit."
    assert synth.spoken == ["Your dog is called Biscuit."]


@pytest.mark.parametrize(
    ("correction", "answer", "question", "memory", "fact"),
    [
        (
            "Rex",
            "Your dog is called Biscuit.",
            "What is my dog called?",
            "my dog is called Biscuit",
            "my dog is called Rex",
        ),
        (
            "the red pot",
            "The key is under the blue pot.",
            "Where is the key?",
            "the key is under the blue pot",
            "the red pot (not: the key is under the blue pot)",
        ),
        (
            "June",
            "Anna's birthday is in May.",
            "When is Anna's birthday?",
            "Anna's birthday is in May",
            "Anna's birthday is in June",
        ),
    ],
)
def test_corrections_become_whole_facts(
    correction: str, answer: str, question: str, memory: str, fact: str
) -> None:
    assert corrected_fact(correction, answer, question, memory) == fact


@pytest.mark.parametrize("correction", ["\\g<0>", "\\9", "\\1 and \\g<name>", "Rex\\"])
def test_a_correction_is_taken_word_for_word_never_as_a_regex_template(correction: str) -> None:
    fact = corrected_fact(
        correction,
        "Your dog is called Biscuit.",
        "What is my dog called?",
        "my dog is called Biscuit",
    )
    assert fact == f"my dog is called {correction}"


def test_a_speculative_answer_is_prepared_but_not_spoken_until_released() -> None:
    answer = ScriptedAnswerModel(["Your dog is called Biscuit."])
    conversation, _, _, synth, speaker = build(["What is my dog's name?"], answer)

    async def scenario() -> None:
        task = asyncio.create_task(conversation.turn(AUDIO, speculative=True))
        await asyncio.to_thread(answer.finished.wait, 5)
        await asyncio.sleep(0.05)
        assert synth.spoken == ["Your dog is called Biscuit."]  # ready to go...
        assert speaker.played == []  # ...but silent
        conversation.release()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert len(speaker.played) == 1


def test_an_abandoned_speculation_saves_and_says_nothing() -> None:
    conversation, events, memory, _, speaker = build(
        ["Remember that my dog is called Biscuit."], memories=()
    )

    async def scenario() -> None:
        task = asyncio.create_task(conversation.turn(AUDIO, speculative=True))
        await asyncio.sleep(0.1)
        conversation.stop()  # the user was still talking
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert memory.memories == {}
    assert speaker.played == []
    assert not any(isinstance(e, SpeakingDone) for e in events)


def test_a_release_before_the_speculative_turn_first_runs_is_its_own() -> None:
    """The endpoint can come in the same moment as the pause (the end-of-turn model is sure
    at once): the release must reach the turn just made, not the one before it."""
    conversation, _, memory, _, _ = build(["Remember that my dog is called Biscuit."], memories=())

    async def scenario() -> None:
        task = asyncio.create_task(conversation.turn(AUDIO, speculative=True))
        conversation.release()  # before the task has run a single line
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert list(memory.memories.values()) == ["my dog is called Biscuit"]


def test_a_released_remember_cut_short_still_saves_what_was_said() -> None:
    """SIGTERM or a barge-in stops the reply; the memory the user asked for is still kept."""
    conversation, _, memory, _, _ = build(["Remember that my dog is called Biscuit."], memories=())

    async def scenario() -> None:
        task = asyncio.create_task(conversation.turn(AUDIO, speculative=True))
        conversation.release()
        conversation.stop()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert list(memory.memories.values()) == ["my dog is called Biscuit"]


def test_a_memory_that_answers_the_question_is_said_in_the_users_words() -> None:
    answer = ScriptedAnswerModel(["The model was not needed."])
    conversation, _, memory, _, _ = build(
        ["What is my dog's name?"], answer, memories=("my dog is called Biscuit",)
    )
    memory.similarity = 0.8
    result = asyncio.run(conversation.turn(AUDIO))
    assert result.reply == "Your dog is called Biscuit."
    assert result.backend == "memory"
    assert answer.seen == []


@pytest.mark.parametrize(
    ("memory", "spoken"),
    [
        ("my dog is called Biscuit", "Your dog is called Biscuit."),
        ("I parked the car on level 3", "You parked the car on level 3."),
        (
            "I'm allergic to peanuts and so is my sister",
            "You're allergic to peanuts and so is your sister.",
        ),
        ("Sam is allergic to peanuts.", "Sam is allergic to peanuts."),
        ("our wifi password is tulip42", "Your wifi password is tulip42."),
    ],
)
def test_memories_are_turned_to_face_the_user(memory: str, spoken: str) -> None:
    assert to_second_person(memory) == spoken


def test_a_direct_answer_needs_one_clearly_best_memory_about_the_same_thing() -> None:
    q = "What is my dog's name?"
    close = [Source(1, "my dog is called Biscuit", "", 0.7), Source(2, "my dog is three", "", 0.65)]
    assert direct_answer(q, close) is None
    clear = [Source(1, "my dog is called Biscuit", "", 0.7), Source(2, "Anna's birthday", "", 0.3)]
    assert direct_answer(q, clear) == clear[0]
    assert direct_answer(q, [Source(1, "my dog is called Biscuit", "", 0.5)]) is None
    mum = [Source(1, "Mum's birthday is on the 14th of February", "", 0.8)]
    assert direct_answer("When is my sister's birthday?", mum) is None
    assert direct_answer("When is Mum's birthday?", mum) == mum[0]


def test_how_sure_says_the_last_answers_personal_score() -> None:
    answer = ScriptedAnswerModel(["Your dog is called Biscuit."])
    conversation, _, _, synth, _ = build(
        ["How sure are you?", "What is my dog called?", "How sure are you?"], answer
    )

    async def scenario() -> None:
        for _ in range(3):
            await conversation.turn(AUDIO)

    asyncio.run(scenario())
    assert synth.spoken[0] == "I haven't answered anything yet."
    assert conversation.last_score is not None
    assert 1 in conversation.last_score.supporting_ids
    assert synth.spoken[-1] == (
        f"About {conversation.last_score.score} out of 100: it is what you told me."
    )
