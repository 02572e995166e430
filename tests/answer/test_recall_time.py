"""Time words and photo words in questions: what they ask of the memory, the listing answer
that names each memory's time, and end to end with photos taken by the device into the real
store (SQLite + sqlite-vec + MiniLM)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from secondself.answer.direct import listing_answer
from secondself.answer.phrases import DONT_KNOW
from secondself.answer.prompt import Source
from secondself.answer.question import asked
from secondself.answer.recall import PersonaMemory, Recalled
from secondself.answer.turn import Conversation, TurnSettings
from secondself.core.bus import Bus
from secondself.memory.embedding import LlamaEmbedder, load_embedder
from secondself.memory.model import Kind, Origin
from secondself.memory.photos import photo_parts, photo_text
from secondself.memory.store import MemoryStore
from secondself.weights.manifest import ModelStore
from tests.support.fakes import (
    RecordingSpeaker,
    ScriptedAnswerModel,
    ScriptedTranscriber,
    ToneSynthesizer,
)
from tests.support.photo_rig import PhotoRig, photo_rig


def local(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


NOW = local("2026-03-04 10:30")  # a Wednesday
YESTERDAY_1405 = local("2026-03-03 14:05")
LAST_WEEK = local("2026-02-25 09:40")  # Wednesday of last week


# --- what a question asks (unit) --------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("question", "phrase", "photos", "listing"),
    [
        ("What did I photograph yesterday?", "yesterday", True, True),
        ("what did I say this morning", "this morning", False, True),
        ("What did I save last week?", "last week", False, True),
        ("what did I save on Monday", "Monday", False, True),
        ("What did I tell you two days ago?", "two days ago", False, True),
        ("How many pictures did I take last weekend?", "last weekend", True, True),
        ("What did I photograph?", None, True, True),
        ("Did I photograph a bicycle yesterday?", "yesterday", True, False),
        # A time, but not of making a memory: searched by its words only.
        ("What did I eat yesterday?", None, False, False),
        # Times of what others said or of what was done, not of telling it to the device.
        ("What did the doctor say yesterday?", None, False, False),
        ("What did my boss tell me last week?", None, False, False),
        ("What medicine did I take yesterday?", None, False, False),
        ("When is my birthday?", None, False, False),
        ("What's the time?", None, False, False),
        ("What is my dog called?", None, False, False),
    ],
)
def test_what_a_question_asks(
    question: str, phrase: str | None, photos: bool, listing: bool
) -> None:
    got = asked(question)
    assert (got.phrase.name if got.phrase else None, got.photos, got.listing) == (
        phrase,
        photos,
        listing,
    )


@pytest.mark.unit
def test_photo_text_keeps_the_spoken_caption_and_adds_what_the_camera_saw() -> None:
    taken = time.mktime((2026, 3, 3, 14, 5, 0, 0, 0, -1))
    both = photo_text("my red bike. ", taken, seen="a red bicycle leaning on a brick wall.")
    assert both == (
        "Photograph taken on Tuesday 3 March 2026 at 14:05: my red bike. "
        "The camera saw: a red bicycle leaning on a brick wall."
    )
    seen_only = photo_text("", taken, seen="a lake")
    assert seen_only == "Photograph taken on Tuesday 3 March 2026 at 14:05. The camera saw: a lake."
    for text, caption, seen in [
        (both, "my red bike", "a red bicycle leaning on a brick wall"),
        (seen_only, "", "a lake"),
        (photo_text("", taken), "", ""),
        (photo_text("Me. And Anna.", taken), "Me. And Anna", ""),
    ]:
        parts = photo_parts(text)
        assert parts is not None and (parts.caption, parts.seen) == (caption, seen), text
        assert parts.when == "Tuesday 3 March 2026 at 14:05"
    assert photo_parts("red bicycle in the hall") is None  # an imported photo's caption


def recalled(memory_id: int, text: str, kind: Kind, said_when: str, created: float) -> Recalled:
    return Recalled(memory_id, text, "", 0.4, kind=kind, created=created, said_when=said_when)


@pytest.mark.unit
def test_listing_answer_names_each_memory_and_its_time() -> None:
    bike = recalled(
        1, photo_text("my red bike", YESTERDAY_1405), Kind.IMAGE, "yesterday at 14:05", 2.0
    )
    note = recalled(2, "I parked on level 3", Kind.NOTE, "yesterday at 09:00", 1.0)
    assert listing_answer("What did I photograph yesterday?", [bike]) == (
        "Yesterday at 14:05 you photographed: your red bike."
    )
    # About photos, and only photos answer it: those, with their times.
    assert listing_answer("Did I photograph a bicycle yesterday?", [bike]) == (
        "Yesterday at 14:05 you photographed: your red bike."
    )
    assert listing_answer("Did I photograph a bicycle yesterday?", [bike, note]) is None
    assert listing_answer("Where did I park yesterday?", [note]) is None
    assert listing_answer("What did I save yesterday?", [bike, note]) == (
        "Yesterday at 09:00 you told me: you parked on level 3. "
        "Yesterday at 14:05 you photographed: your red bike."
    )
    several = [recalled(i, f"note {i}", Kind.NOTE, f"today at 0{i}:00", i) for i in range(1, 6)]
    answer = listing_answer("what did I say this morning", several)
    assert answer is not None and answer.startswith("Today at 03:00") and "Note 5." in answer
    assert answer.endswith("And 2 more.")
    bounded = [recalled(i, f"note {i}", Kind.NOTE, "today at 03:00", i) for i in range(100)]
    answer = listing_answer("what did I say this morning", bounded)  # as many as recall gives
    assert answer is not None and answer.endswith("And at least 97 more.")


@pytest.mark.unit
def test_listing_answer_when_there_is_nothing_or_it_is_not_a_listing() -> None:
    assert listing_answer("What did I photograph on Sunday?", []) == (
        "I have no photographs from Sunday."
    )
    assert listing_answer("What did I say last week?", []) == "I have nothing from last week."
    assert listing_answer("What did I photograph?", []) == "I have no photographs yet."
    assert listing_answer("What is my dog called?", []) is None
    assert listing_answer("Did I photograph a bicycle yesterday?", []) is None
    plain = Source(3, "my dog is called Biscuit", "2026-03-03", 0.7)  # no time to say
    assert listing_answer("What did I save yesterday?", [plain]) is None


# --- end to end: photos by the device, the real store -----------------------------------


@pytest.fixture(scope="module")
def embedder(model_store: ModelStore) -> LlamaEmbedder:
    return load_embedder(model_store, "all-minilm-l6-v2", threads=1)


@pytest.fixture
def rig(tmp_path: Path, embedder: LlamaEmbedder) -> Iterator[PhotoRig]:
    store = MemoryStore.open(tmp_path / "user", embedder)
    made = photo_rig(tmp_path, store, ["My new red bicycle.", "The lake at sunset."])
    yield made
    made.close()


def conversation(store: MemoryStore, answer: ScriptedAnswerModel) -> Conversation:
    return Conversation(
        Bus(),
        ScriptedTranscriber([]),
        PersonaMemory(store, "personal", clock=lambda: NOW),
        answer,
        ToneSynthesizer(),
        RecordingSpeaker(),
    )


@pytest.mark.e2e
def test_what_did_i_photograph_yesterday_finds_only_yesterdays_and_names_its_time(
    rig: PhotoRig,
) -> None:
    bike = rig.photo(YESTERDAY_1405)
    lake = rig.photo(LAST_WEEK)
    assert (bike.kind, lake.kind) == (Kind.IMAGE, Kind.IMAGE)
    assert "bicycle" in bike.text and "lake" in lake.text
    rig.store.remember("I parked the car on level 3", source=Origin.VOICE, created=YESTERDAY_1405)
    rig.store.remember("The bicycle shop closes at six", created=LAST_WEEK)

    memory = PersonaMemory(rig.store, "personal", clock=lambda: NOW)
    found = memory.recall("What did I photograph yesterday?", 5)
    assert [s.memory_id for s in found] == [bike.id]
    assert [s.memory_id for s in memory.recall("What did I photograph last week?", 5)] == [lake.id]
    assert memory.recall("What did I photograph on Monday?", 5) == []
    yesterday = {s.memory_id for s in memory.recall("What did I save yesterday?", 5)}
    assert bike.id in yesterday and lake.id not in yesterday and len(yesterday) == 2

    model = ScriptedAnswerModel(["never used"])
    talk = conversation(rig.store, model)
    result = asyncio.run(talk.answer("What did I photograph yesterday?"))
    assert result.reply == "Yesterday at 14:05 you photographed: your new red bicycle."
    assert (result.backend, [s.memory_id for s in result.sources]) == ("memory", [bike.id])
    result = asyncio.run(talk.answer("What did I photograph last week?"))
    assert result.reply == "On 25 February at 09:40 you photographed: the lake at sunset."
    result = asyncio.run(talk.answer("What did I photograph on Monday?"))
    assert result.reply == "I have no photographs from Monday."
    assert model.seen == []  # every answer came from the memories, with their times


@pytest.mark.e2e
def test_photo_words_prefer_photos_and_other_questions_are_unchanged(rig: PhotoRig) -> None:
    bike = rig.photo(YESTERDAY_1405)
    shop = rig.store.remember("The bicycle shop on Elm Street closes at six", created=LAST_WEEK)
    memory = PersonaMemory(rig.store, "personal", clock=lambda: NOW)
    assert [s.memory_id for s in memory.recall("Did I take a photo of a bicycle?", 5)][:1] == [
        bike.id
    ]
    # No photo words, no time of saving: the words decide, as before.
    assert [s.memory_id for s in memory.recall("When does the bicycle shop close?", 5)][:1] == [
        shop.id
    ]
    # A time phrase about something else is not a filter: last week's memory is found.
    assert shop.id in {s.memory_id for s in memory.recall("Which shop closes at six today?", 5)}
    # Said "yesterday" of a fact told last week: nothing was saved yesterday about it, so
    # the words find it anyway (a question, not a listing).
    found = memory.recall("What did I say about the shop on Elm Street yesterday?", 5)
    assert shop.id in {s.memory_id for s in found}
    talk = conversation(rig.store, ScriptedAnswerModel(["never used"]))
    assert asyncio.run(talk.answer("Is there a picture of my bicycle?")).reply == (
        "Yesterday at 14:05 you photographed: your new red bicycle."
    )
    assert asyncio.run(talk.answer("What is my sister's name?")).reply == DONT_KNOW


@pytest.mark.e2e
def test_a_listing_counts_every_memory_of_its_time_not_only_the_top_k(rig: PhotoRig) -> None:
    for minute in range(8):  # more memories of yesterday than a question's top 5
        rig.store.remember(f"Shopping item {minute}: oat milk", created=YESTERDAY_1405 + minute)
    talk = conversation(rig.store, ScriptedAnswerModel(["never used"]))
    reply = asyncio.run(talk.answer("What did I save yesterday?")).reply
    assert reply.count("Yesterday at 14:") == 3 and reply.endswith("And 5 more."), reply


# --- end to end: when a memory happened, the real store --------------------------------

SAID_8_MAY_2023 = local("2023-05-08 14:00")  # a Monday
A_YEAR_ON = local("2024-06-20 10:00")


@pytest.fixture
def store(tmp_path: Path, embedder: LlamaEmbedder) -> Iterator[MemoryStore]:
    with MemoryStore.open(tmp_path / "user", embedder) as opened:
        opened.remember("I went to a support group yesterday", created=SAID_8_MAY_2023)
        opened.remember("My dog is called Biscuit", created=SAID_8_MAY_2023)
        yield opened


def asked_on(
    store: MemoryStore, now: float, model: ScriptedAnswerModel, direct_similarity: float = 0.6
) -> Conversation:
    return Conversation(
        Bus(),
        ScriptedTranscriber([]),
        PersonaMemory(store, "personal", clock=lambda: now),
        model,
        ToneSynthesizer(),
        RecordingSpeaker(),
        TurnSettings(direct_similarity=direct_similarity),
    )


@pytest.mark.e2e
def test_when_did_i_is_answered_with_the_date_the_memory_meant(store: MemoryStore) -> None:
    model = ScriptedAnswerModel(["never used"])
    result = asyncio.run(
        asked_on(store, A_YEAR_ON, model).answer("When did I go to the support group?")
    )
    assert result.reply == "You went to a support group on Sunday 7 May 2023."
    assert result.backend == "memory" and model.seen == []
    # Asked two days after it was said: as of then.
    result = asyncio.run(
        asked_on(store, local("2023-05-09 09:00"), model).answer(
            "What day did I go to the support group?"
        )
    )
    assert result.reply == "You went to a support group last Sunday."
    # The memory itself keeps its words.
    assert store.get(1).text == "I went to a support group yesterday"


@pytest.mark.e2e
def test_the_model_is_given_the_resolved_date_and_may_say_it(store: MemoryStore) -> None:
    model = ScriptedAnswerModel(["You went to the support group on Sunday 7 May 2023."])
    talk = asked_on(store, A_YEAR_ON, model, direct_similarity=0)  # 0: always the model
    result = asyncio.run(talk.answer("When did I go to the support group?"))
    system = model.seen[0][0].content
    assert (
        "I went to a support group yesterday. "
        "(Said on 8 May 2023; yesterday = Sunday 7 May 2023.)" in system
    )
    # The date is in the memory's evidence, so the answer is grounded and said.
    assert result.reply == "You went to the support group on Sunday 7 May 2023."
    assert result.backend == "local"
