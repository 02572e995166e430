"""The Ollama-compatible API with the official `ollama` client (what Home Assistant's Ollama
integration uses), against the daemon's page on loopback answering with the daemon's
`Conversations`: the persona's own answer as JSON lines and not, a model per persona the
token may use, tool calls declined politely, tokens refused as on every route; and the
page's own /api/ routes beside /api/chat and /api/tags are as they were."""

from __future__ import annotations

import json
from collections.abc import Iterator

import ollama
import pytest

from secondself.household.personas import Persona
from secondself.web.chat import NO_TOOLS
from secondself.web.tokens import Scope
from tests.support.served_page import ServedPage, daemon_page

pytestmark = pytest.mark.e2e

DOG = "What is my dog called?"
TOOL = {
    "type": "function",
    "function": {
        "name": "HassTurnOn",
        "description": "Turns on a device",
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}}},
    },
}


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedPage]:
    folder = tmp_path_factory.mktemp("ollama")
    config = folder / "config.toml"
    config.write_text('[llm]\nmodel = "smollm2-135m-instruct"\n')
    with daemon_page(folder / "home", config) as (_session, served):
        served.stores.get("default").remember("My dog is called Biscuit", persona="personal")
        served.household.create_persona(
            "default", Persona("work", None, "en_US-joe-medium", "smollm2-135m-instruct")
        )
        yield served


def client(page: ServedPage, token: str) -> ollama.Client:
    return ollama.Client(host=page.url, headers={"Authorization": f"Bearer {token}"})


def chat(page: ServedPage, token: str, **more: object) -> ollama.ChatResponse:
    options = {"model": "personal", "messages": [{"role": "user", "content": DOG}], **more}
    return client(page, token).chat(**options)


def test_chat_is_the_personas_answer_whole_and_as_json_lines(page: ServedPage) -> None:
    token, _ = page.book.create("default", "personal", Scope.ASK)
    whole = chat(page, token, stream=False)
    assert whole.message.role == "assistant" and whole.done and whole.done_reason == "stop"
    assert whole.message.content == "Your dog is called Biscuit."
    parts = list(chat(page, token, stream=True))
    assert [p.done for p in parts] == [False] * (len(parts) - 1) + [True]
    assert "".join(p.message.content or "" for p in parts) == whole.message.content
    # Its tag, as Ollama names models, is the same persona.
    assert (
        chat(page, token, model="personal:latest", stream=False).message.content
        == whole.message.content
    )


def test_the_last_line_carries_the_personal_score(page: ServedPage) -> None:
    token, _ = page.book.create("default", "personal", Scope.ASK)
    body = {"model": "personal", "messages": [{"role": "user", "content": DOG}], "stream": True}
    reply = page.call("POST", "/api/chat", token, body)
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in reply.body.splitlines()]
    assert (
        lines[-1]["done"]
        and lines[-1]["secondself"]["sources"][0]["text"] == "My dog is called Biscuit"
    )
    assert 0 <= lines[-1]["secondself"]["personal_score"] <= 100


def test_tags_are_the_personas_the_token_may_use(page: ServedPage) -> None:
    owner = client(page, page.owner_token).list()
    assert [m.model for m in owner.models] == ["personal", "work"]
    token, _ = page.book.create("default", "work", Scope.READ)
    assert [m.model for m in client(page, token).list().models] == ["work"]
    assert page.call("GET", "/api/version", token).json["version"]


def test_tool_calls_are_declined_politely_not_crashed_on(page: ServedPage) -> None:
    token, _ = page.book.create("default", "personal", Scope.ASK)
    offered = chat(page, token, tools=[TOOL], stream=False)
    assert not offered.message.tool_calls
    content = offered.message.content or ""
    assert content.startswith(NO_TOOLS) and "Biscuit" in content
    # A chat that holds a tool call and its result (as if one had been made) is answered too.
    called = client(page, token).chat(
        model="personal",
        messages=[
            {"role": "user", "content": "Turn on the kitchen light"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": "HassTurnOn", "arguments": {"name": "kitchen"}}}]},
            {"role": "tool", "content": "done"},
            {"role": "user", "content": DOG},
        ],
    )  # fmt: skip
    assert (called.message.content or "").startswith(NO_TOOLS)


def test_tokens_are_refused_as_on_every_route(page: ServedPage) -> None:
    with pytest.raises(ollama.ResponseError) as wrong:
        chat(page, "not-the-token")
    assert wrong.value.status_code == 401
    with pytest.raises(ollama.ResponseError) as none:  # Ollama's default: no token at all
        ollama.Client(host=page.url, headers={"Authorization": None}).list()
    assert none.value.status_code == 401 and "secondself web" in none.value.error
    work, _ = page.book.create("default", "work", Scope.ASK)
    with pytest.raises(ollama.ResponseError) as other:
        chat(page, work)  # the personal persona's answer
    assert other.value.status_code == 403 and "persona work" in other.value.error
    expiring, _ = page.book.create("default", "personal", Scope.ASK, expires_in_s=60)
    page.clock.now += 61
    with pytest.raises(ollama.ResponseError) as expired:
        client(page, expiring).list()
    assert expired.value.status_code == 401 and "expired" in expired.value.error


def test_the_pages_own_api_is_unchanged_beside_chat_and_tags(page: ServedPage) -> None:
    token, _ = page.book.create("default", "personal", Scope.REMEMBER)
    # The page's changes still need its write header; the chat routes do not.
    no_header = page.call("POST", "/api/memories", token, {"text": "x"}, {"X-Secondself": ""})
    assert no_header.status == 403 and no_header.json["code"] == "no-write-header"
    assert page.call("GET", "/api/memories", token).json["memories"][0]["text"]
    assert page.call("GET", "/api/chat", token).status == 405
    schema = page.call("GET", "/openapi.json", None).json
    assert {"/api/chat", "/api/tags", "/api/version", "/api/memories", "/v1/chat/completions",
            "/v1/models"} <= set(schema["paths"])  # fmt: skip
