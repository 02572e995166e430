"""A conversation backs off to the cloud only as the persona's policy allows, and falls back
to what it knows when the cloud fails (a real HTTP server on loopback)."""

from __future__ import annotations

import asyncio

import pytest

from secondself.answer.turn import Conversation, TurnSettings
from secondself.core.bus import Bus
from tests.answer.test_cloud import Loopback, client, loopback, raw, sse  # noqa: F401 - fixture
from tests.support.fakes import (
    ListMemory,
    RecordingSpeaker,
    ScriptedAnswerModel,
    ScriptedTranscriber,
    ToneSynthesizer,
)

pytestmark = pytest.mark.unit

SECRET = "my dentist is Doctor Quillfeather"


def converse(server: Loopback, policy: str, question: str) -> tuple[str, str, ListMemory]:
    bus = Bus()
    memory = ListMemory(bus, [SECRET, "the spare key is under the blue pot"])
    local = ScriptedAnswerModel(["The spare key is under the blue pot."])
    conversation = Conversation(
        bus,
        ScriptedTranscriber([]),
        memory,
        local,
        ToneSynthesizer(),
        RecordingSpeaker(),
        TurnSettings(backoff=policy),
        cloud=client(server.base_url, bus),
    )
    result = asyncio.run(conversation.answer(question))
    return result.reply, result.backend, memory


def sent_text(server: Loopback) -> str:
    return " ".join(m["content"] for r in server.received for m in r.json()["messages"])


def test_a_question_no_memory_answers_goes_to_the_cloud_without_memories(
    loopback: Loopback,  # noqa: F811
) -> None:
    reply, backend, _ = converse(loopback, "without-memories", "What is the capital of France?")
    assert backend == "cloud"
    assert reply.startswith("From the cloud model:")
    assert "Lyon" in reply  # the loopback's scripted answer
    assert "capital of France" in sent_text(loopback)
    assert "Quillfeather" not in sent_text(loopback)


def test_policy_never_sends_nothing(loopback: Loopback) -> None:  # noqa: F811
    reply, backend, _ = converse(loopback, "never", "What is the capital of France?")
    assert (reply, backend) == ("I don't know that yet.", "memory")
    assert loopback.received == []


def test_a_failing_cloud_falls_back_to_what_is_known(loopback: Loopback) -> None:  # noqa: F811
    loopback.reply = raw(500, b'{"error": "overloaded"}')
    reply, backend, _ = converse(loopback, "with-memories", "What is the capital of France?")
    assert (reply, backend) == ("I don't know that yet.", "memory")
    assert len(loopback.received) == 1


def test_questions_the_memories_answer_never_leave_the_device(
    loopback: Loopback,  # noqa: F811
) -> None:
    loopback.reply = sse(["Should not be asked."])
    reply, backend, _ = converse(loopback, "with-memories", "Where is the spare key?")
    assert reply == "The spare key is under the blue pot."
    assert backend == "local"
    assert loopback.received == []
