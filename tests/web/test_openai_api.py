"""The OpenAI-compatible API with the official `openai` client, against the daemon's page on
loopback answering with the daemon's `Conversations` (real MiniLM, real SmolLM2, real
SQLite): the persona's own answer, streamed and not, with its personal score and sources;
a model per persona the token may use; a bad, expired or revoked token, another persona's
and another user's are refused; tools are declined politely; the device's bus (its LED,
journal and metrics) hears nothing of it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest

from secondself.core.events import AnswerDone, Event, Speaking, SpeakingDone
from secondself.household.personas import Persona
from secondself.service.session import TextSession
from secondself.web.chat import NO_TOOLS, read_question
from secondself.web.errors import HttpError
from secondself.web.tokens import Scope
from tests.support.served_page import ServedPage, daemon_page

pytestmark = pytest.mark.e2e

DOG = "What is my dog called?"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "turn_on_light",
            "description": "Turn on a light",
            "parameters": {"type": "object", "properties": {"room": {"type": "string"}}},
        },
    }
]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TextSession, ServedPage]]:
    folder = tmp_path_factory.mktemp("openai")
    config = folder / "config.toml"
    config.write_text('[llm]\nmodel = "smollm2-135m-instruct"\n')
    with daemon_page(folder / "home", config) as (session, page):
        store = page.stores.get("default")
        for text in ("My dog is called Biscuit", "My sister Anna lives in Lisbon",
                     "I park the car on level three of the garage"):  # fmt: skip
            store.remember(text, persona="personal")
        page.household.create_persona(
            "default", Persona("work", None, "en_US-joe-medium", "smollm2-135m-instruct")
        )
        page.household.add_user("anna")
        yield session, page


@pytest.fixture
def page(daemon: tuple[TextSession, ServedPage]) -> ServedPage:
    return daemon[1]


def client(page: ServedPage, token: str, **more: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{page.url}/v1", api_key=token, max_retries=0, **more)


def ask(
    page: ServedPage, token: str, question: str, model: str = "personal"
) -> openai.types.chat.ChatCompletion:
    return client(page, token).chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}]
    )


def test_the_answer_is_the_personas_own_with_its_score_and_sources(
    daemon: tuple[TextSession, ServedPage],
) -> None:
    session, page = daemon
    token, _ = page.book.create("default", "personal", Scope.ASK)
    reply = ask(page, token, DOG)
    expected = asyncio.run(session.conversation.answer(DOG, ()))  # as `secondself ask` does
    (choice,) = reply.choices
    assert choice.message.content == expected.reply and "Biscuit" in expected.reply
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert reply.model == "personal" and reply.object == "chat.completion"
    extra = (reply.model_extra or {})["secondself"]
    assert extra["persona"] == "personal" and extra["backend"] == expected.backend
    assert extra["sources"][0]["text"] == "My dog is called Biscuit"
    assert 0 <= extra["personal_score"] <= 100
    assert set(extra["score_parts"]) >= {"grounding", "retrieval", "style"}
    # Kept as a conversation turn, as a spoken answer is: the page shows it, scored.
    turns = page.call("GET", "/api/conversations", token).json["turns"]
    assert turns[0]["question"] == DOG and turns[0]["answer"] == expected.reply


def test_streamed_it_is_the_same_answer_sentence_by_sentence(page: ServedPage) -> None:
    token, _ = page.book.create("default", "personal", Scope.ASK)
    for question in (DOG, "Where do I park the car, and who lives in Lisbon?"):
        whole = ask(page, token, question)
        stream = client(page, token).chat.completions.create(
            model="personal", messages=[{"role": "user", "content": question}], stream=True
        )
        chunks = list(stream)
        assert chunks[0].choices[0].delta.role == "assistant"
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        assert text == whole.choices[0].message.content and text
        last = chunks[-1]
        assert last.choices[0].finish_reason == "stop"
        extra = (last.model_extra or {})["secondself"]
        assert extra["personal_score"] == (whole.model_extra or {})["secondself"]["personal_score"]
        assert all(c.id == chunks[0].id for c in chunks)
    # A chunk for each piece as it is said: here the tools notice, then the answer.
    stream = client(page, token).chat.completions.create(
        model="personal",
        messages=[{"role": "user", "content": DOG}],
        stream=True,
        tools=TOOLS,
    )
    pieces = [c.choices[0].delta.content for c in stream if c.choices[0].delta.content]
    assert pieces == [NO_TOOLS, f" {ask(page, token, DOG).choices[0].message.content}"]


def test_models_are_the_personas_the_token_may_use(page: ServedPage) -> None:
    owner = client(page, page.owner_token).models.list()
    assert [m.id for m in owner.data] == ["personal", "work"]
    token, _ = page.book.create("default", "work", Scope.READ)
    assert [m.id for m in client(page, token).models.list().data] == ["work"]
    anna, _ = page.book.create("anna", "personal", Scope.ASK)
    assert [(m.id, m.owned_by) for m in client(page, anna).models.list().data] == [
        ("personal", "anna")
    ]


def test_bad_expired_and_revoked_tokens_are_refused(page: ServedPage) -> None:
    with pytest.raises(openai.AuthenticationError) as bad:
        ask(page, "not-the-token", DOG)
    assert bad.value.code == "unauthorized" and "Biscuit" not in str(bad.value.body)
    expiring, _ = page.book.create("default", "personal", Scope.ASK, expires_in_s=60)
    assert ask(page, expiring, DOG).choices[0].message.content
    page.clock.now += 61
    with pytest.raises(openai.AuthenticationError) as expired:
        ask(page, expiring, DOG)
    assert expired.value.code == "token-expired"
    revoked, record = page.book.create("default", "personal", Scope.ASK)
    page.book.revoke(record.id)
    with pytest.raises(openai.AuthenticationError) as gone:
        client(page, revoked).models.list()
    assert gone.value.code == "token-revoked"


def test_another_personas_and_another_users_tokens_reach_nothing(page: ServedPage) -> None:
    work, _ = page.book.create("default", "work", Scope.ASK)
    with pytest.raises(openai.PermissionDeniedError) as other_persona:
        ask(page, work, DOG, model="personal")
    assert other_persona.value.code == "token-scope"
    anna, _ = page.book.create("anna", "personal", Scope.ASK)
    as_default = client(page, anna, default_query={"user": "default"})
    with pytest.raises(openai.PermissionDeniedError):
        as_default.chat.completions.create(
            model="personal", messages=[{"role": "user", "content": DOG}]
        )
    # Anna's own persona knows nothing of the default user's dog.
    assert "Biscuit" not in (ask(page, anna, DOG).choices[0].message.content or "")
    reader, _ = page.book.create("default", "personal", Scope.READ)
    with pytest.raises(openai.PermissionDeniedError):  # asking keeps a turn: scope ask
        ask(page, reader, DOG)
    with pytest.raises(openai.NotFoundError):
        ask(page, page.owner_token, DOG, model="nobody")


def test_tools_are_declined_politely_and_the_question_still_answered(page: ServedPage) -> None:
    token, _ = page.book.create("default", "personal", Scope.ASK)
    reply = client(page, token).chat.completions.create(
        model="personal",
        messages=[{"role": "user", "content": DOG}],
        tools=TOOLS,
    )
    (choice,) = reply.choices
    assert choice.message.tool_calls is None and choice.finish_reason == "stop"
    content = choice.message.content or ""
    assert content.startswith(NO_TOOLS) and "Biscuit" in content


def test_the_device_hears_nothing_of_an_api_answer(daemon: tuple[TextSession, ServedPage]) -> None:
    session, page = daemon
    heard: list[Event] = []
    unsubscribe = session.conversations.shared.bus.on(heard.append)
    try:
        ask(page, page.owner_token, DOG)
    finally:
        unsubscribe()
    spoken = [e for e in heard if isinstance(e, AnswerDone | Speaking | SpeakingDone)]
    assert spoken == []  # no LED, no journal line, no voice metric for it


@pytest.mark.unit
def test_the_question_and_its_history_are_read_from_the_messages() -> None:
    question = read_question([
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is my dog called?"},
        {"role": "assistant", "content": "Your dog is called Biscuit."},
        {"role": "user", "content": [{"type": "text", "text": "How old is he?"}]},
    ])  # fmt: skip
    assert question.text == "How old is he?" and not question.offers_tools
    assert [(t.question, t.answer) for t in question.history] == [
        ("What is my dog called?", "Your dog is called Biscuit.")
    ]
    assert read_question([{"role": "user", "content": "hi"}], tools=TOOLS).offers_tools
    for messages, code in (
        ([], "no-question"),
        ([{"role": "assistant", "content": "Hello"}], "no-question"),
        ([{"role": "user", "content": "   "}], "empty-question"),
        ([{"role": "user", "content": "x" * 2001}], "question-too-long"),
        ([{"role": "user", "content": 7}], "bad-message"),
        (["hello"], "bad-message"),
    ):
        with pytest.raises(HttpError) as refused:
            read_question(messages)
        assert refused.value.status_code == 400 and refused.value.code == code
