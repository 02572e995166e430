"""The chat APIs' answering, with small fakes behind the turn's Protocols: one answer at a
time and a 503 once too many wait, raised before any of an answer is sent; a client that
goes away mid-answer stops its generation, and the answer cut short is kept as no turn."""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from secondself.answer.turn import Conversation
from secondself.core.bus import Bus
from secondself.core.protocols import Speaker, Synthesizer
from secondself.household.routing import Route
from secondself.household.users import Household
from secondself.web.api import WebApi
from secondself.web.chat import WAITING, Answered, Chat, read_question
from secondself.web.errors import HttpError
from secondself.web.stores import UserStores
from secondself.web.tokens import Scope
from tests.memory.test_support import HashEmbedder
from tests.support.fakes import ListMemory, ScriptedAnswerModel, ScriptedTranscriber
from tests.support.served_page import CATALOG, DEFAULTS, ServedPage, serve_page

pytestmark = pytest.mark.unit

ROUTE = Route("default", "personal")
DOG = read_question([{"role": "user", "content": "What is my dog called?"}])


class HeldAnswers:
    """Makes conversations over one memory and one answer model that holds after its first
    sentence until the test lets it go."""

    def __init__(self) -> None:
        self.bus = Bus()
        self.memory = ListMemory(
            self.bus, ["my dog is called Biscuit", "my dog is three years old"]
        )
        self.model = ScriptedAnswerModel(
            ["Your dog is called Biscuit. ", "He is three years old."], hold_after=0
        )

    def __call__(self, route: Route, synth: Synthesizer, speaker: Speaker) -> Conversation:
        return Conversation(
            self.bus, ScriptedTranscriber([]), self.memory, self.model, synth, speaker
        )


def test_one_answer_at_a_time_and_a_503_beyond_the_queue(tmp_path: Path) -> None:
    answers = HeldAnswers()
    bus = Bus()
    api = WebApi(
        UserStores(Household(tmp_path, DEFAULTS, CATALOG), HashEmbedder(), bus), bus, "default"
    )

    async def scenario() -> None:
        chat = Chat(answers, api)
        streams = [chat.stream(ROUTE, DOG, 50) for _ in range(WAITING + 2)]
        assert await anext(streams[0]) == "Your dog is called Biscuit."  # then the model holds
        waiting = [asyncio.create_task(anext(s)) for s in streams[1 : WAITING + 1]]
        await asyncio.sleep(0.1)
        assert not any(task.done() for task in waiting)  # their turn has not come
        with pytest.raises(HttpError) as busy:
            await anext(streams[-1])
        assert busy.value.status_code == 503 and busy.value.code == "busy"
        answers.model.release.set()
        rest = [piece async for piece in streams[0]]
        assert rest[0] == "He is three years old." and isinstance(rest[-1], Answered)
        for task, stream in zip(waiting, streams[1:], strict=False):
            assert await task == "Your dog is called Biscuit."
            assert isinstance([p async for p in stream][-1], Answered)

    try:
        asyncio.run(scenario())
    finally:
        api.close()
    assert len(answers.memory.turns) == WAITING + 1  # every answer given was kept, once


@pytest.fixture
def page(tmp_path: Path) -> Iterator[tuple[ServedPage, HeldAnswers]]:
    answers = HeldAnswers()
    served = serve_page(tmp_path / "home", HashEmbedder(), converse=answers)
    yield served, answers
    answers.model.release.set()
    served.close()


def test_a_client_that_goes_away_stops_its_answer_and_keeps_no_turn(
    page: tuple[ServedPage, HeldAnswers],
) -> None:
    served, answers = page
    token, _ = served.book.create("default", "personal", Scope.ASK)
    body = {
        "model": "personal",
        "stream": True,
        "messages": [{"role": "user", "content": "What is my dog called?"}],
    }
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    headers = {
        "Host": "127.0.0.1",
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
    }
    conn.request("POST", "/v1/chat/completions", json.dumps(body), headers)
    response = conn.getresponse()
    assert response.status == 200
    first = b""
    while b"Biscuit" not in first:
        first += response.read1(65536)
    conn.close()  # gone, with the model held mid-answer
    assert not answers.model.finished.wait(1)
    answers.model.release.set()
    assert not answers.model.finished.wait(1)  # it was not asked for the rest
    assert answers.memory.turns == []  # an answer cut short is no turn
    # The next client gets its whole answer.
    reply = served.call("POST", "/v1/chat/completions", token, {**body, "stream": False})
    assert reply.json["choices"][0]["message"]["content"] == (
        "Your dog is called Biscuit. He is three years old."
    )
    assert len(answers.memory.turns) == 1
