"""The MCP tools and resources through the SDK's own in-process client, without models:
each scope reaches what it may and is refused the rest (nothing changed), `ask` is offered
only with answers, bad input is a tool error, and the personas are resources."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from mcp import Client, MCPError
from mcp.types import CallToolResult
from numpy.typing import NDArray

from secondself.core.bus import Bus
from secondself.household.personas import Catalog, Defaults, Persona
from secondself.household.users import Household
from secondself.memory.model import SearchFilter
from secondself.web.callers import SCOPES, Caller, owner
from secondself.web.mcp_tools import SecondSelfTools
from secondself.web.stores import UserStores

pytestmark = pytest.mark.unit

T = TypeVar("T")
DEFAULTS = Defaults("hey_jarvis", "en_US-joe-medium", "qwen2.5-0.5b-instruct")
CATALOG = Catalog(
    wake_words=frozenset({"hey_jarvis", "alexa"}),
    voices=frozenset({"en_US-joe-medium"}),
    models=frozenset({"qwen2.5-0.5b-instruct"}),
)
TOOLS = ["search_memories", "remember", "forget"]


class WordEmbedder:
    """A unit vector per text from its letters: enough to save and find a memory."""

    name = "letters"
    dimensions = 384

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        rows = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in zip(rows, texts, strict=True):
            for char in text.lower():
                row[ord(char) % self.dimensions] += 1.0
            row /= max(float(np.linalg.norm(row)), 1e-9)
        return rows


class RecordedAnswers:
    """Answers every question alike, and records who asked what."""

    def __init__(self) -> None:
        self.asked: list[tuple[Caller, str]] = []

    async def ask(self, caller: Caller, question: str) -> dict[str, Any]:
        self.asked.append((caller, question))
        return {"answer": "Your dog is called Biscuit.", "personal_score": 99, "sources": []}


async def in_thread(work: Callable[[], T]) -> T:
    return await asyncio.to_thread(work)


@pytest.fixture
def household(tmp_path: Path) -> Household:
    household = Household(tmp_path / "home", DEFAULTS, CATALOG)
    household.create_persona(
        "default", Persona("work", "alexa", "en_US-joe-medium", "qwen2.5-0.5b-instruct")
    )
    return household


@pytest.fixture
def stores(household: Household) -> Iterator[UserStores]:
    opened = UserStores(household, WordEmbedder(), Bus())
    yield opened
    opened.close()


def session(
    stores: UserStores, caller: Caller, answers: RecordedAnswers | None = None
) -> Callable[[Callable[[Client], Awaitable[T]]], T]:
    """Runs `use(client)` against a server for `caller`, in-process."""
    server = SecondSelfTools(stores, lambda: caller, in_thread, answers).server()

    def run(use: Callable[[Client], Awaitable[T]]) -> T:
        async def connected() -> T:
            async with Client(server) as client:
                return await use(client)

        return asyncio.run(connected())

    return run


def call(client: Client, tool: str, **arguments: Any) -> Awaitable[CallToolResult]:
    return client.call_tool(tool, arguments)


def texts(stores: UserStores, persona: str) -> list[str]:
    return [m.text for m in stores.get("default").recent(SearchFilter(persona), 100)]


def refusal(result: CallToolResult) -> str:
    """The text of a tool error (ours are one line; the SDK's own, for arguments that do
    not fit the tool's schema, name each argument)."""
    assert result.is_error, result
    (content,) = result.content
    text: str = getattr(content, "text", "")
    assert text
    return text


def test_the_owner_has_every_tool_and_ask_comes_with_answers(stores: UserStores) -> None:
    async def names(client: Client) -> list[str]:
        return [t.name for t in (await client.list_tools()).tools]

    assert session(stores, owner("default")({}))(names) == TOOLS
    answers = RecordedAnswers()
    assert session(stores, owner("default")({}), answers)(names) == [*TOOLS, "ask"]


def test_remember_search_forget_as_one_persona(stores: UserStores) -> None:
    work = Caller("default", "work", "remember")

    async def use(client: Client) -> tuple[Any, ...]:
        saved = await call(client, "remember", text="the badge code is 4471")
        memory_id = saved.structured_content["memory"]["id"]
        found = await call(client, "search_memories", query="badge code")
        gone = await call(client, "forget", memory_id=memory_id)
        after = await call(client, "search_memories", query="badge code")
        return saved.structured_content, found.structured_content, gone, after

    saved, found, gone, after = session(stores, work)(use)
    assert saved["memory"]["persona"] == "work" and saved["memory"]["source"] == "mcp"
    assert [m["text"] for m in found["memories"]] == ["the badge code is 4471"]
    assert gone.structured_content["forgotten"] == [saved["memory"]["id"]]
    assert after.structured_content == {"memories": []}
    assert stores.get("default").count() == 0


@pytest.mark.parametrize("scope", SCOPES[:2])
def test_read_and_ask_scopes_may_not_change_anything(stores: UserStores, scope: str) -> None:
    kept = stores.get("default").remember("my locker is number 12", persona="personal")
    caller = Caller("default", "personal", scope)

    async def use(client: Client) -> list[CallToolResult]:
        return [
            await call(client, "remember", text="a planted memory"),
            await call(client, "forget", memory_id=kept.id),
            await call(client, "search_memories", query="locker"),
        ]

    remembered, forgotten, searched = session(stores, caller, RecordedAnswers())(use)
    assert "needs the 'remember' or 'admin' scope" in refusal(remembered)
    assert "needs the 'remember' or 'admin' scope" in refusal(forgotten)
    assert not searched.is_error  # reading is what they are for
    assert texts(stores, "personal") == ["my locker is number 12"]  # nothing changed


def test_ask_needs_the_ask_scope_and_goes_to_the_callers_persona(stores: UserStores) -> None:
    answers = RecordedAnswers()

    async def ask(client: Client) -> CallToolResult:
        return await call(client, "ask", question="  What is my dog called? ")

    refused = session(stores, Caller("default", "work", "read"), answers)(ask)
    assert "needs the 'ask'" in refusal(refused) and answers.asked == []
    answered = session(stores, Caller("default", "work", "ask"), answers)(ask)
    assert answered.structured_content["answer"] == "Your dog is called Biscuit."
    assert answers.asked == [(Caller("default", "work", "ask"), "What is my dog called?")]


def test_bad_input_is_a_tool_error_and_the_server_carries_on(stores: UserStores) -> None:
    answers = RecordedAnswers()

    async def use(client: Client) -> list[CallToolResult]:
        return [
            await call(client, "search_memories", query="   "),
            await call(client, "search_memories", query="x", limit=10_000),
            await call(client, "search_memories", query="x", kinds=["secrets"]),
            await call(client, "remember", text=""),
            await call(client, "remember", text="a\x00b"),
            await call(client, "forget", memory_id=2**70),
            await call(client, "forget", memory_id="one"),
            await call(client, "forget", memory_id=12345),
            await call(client, "ask", question=""),
            await call(client, "ask"),
            await call(client, "remember", text="still here"),
        ]

    *refused, last = session(stores, owner("default")({}), answers)(use)
    messages = [refusal(r) for r in refused]
    ours = [messages[i] for i in (0, 3, 4, 7, 8)]
    assert all("\n" not in m for m in ours), ours
    assert "the search text is empty" in ours[0]
    assert "the memory text is empty" in ours[1] and "not text" in ours[2]
    assert "no memory with id 12345" in ours[3]
    assert "the question is empty" in ours[4]
    for i, argument in (
        (1, "limit"),
        (2, "kinds"),
        (5, "memory_id"),
        (6, "memory_id"),
        (9, "question"),
    ):
        assert argument in messages[i], messages[i]
    assert not last.is_error and answers.asked == []
    assert texts(stores, "personal") == ["still here"]


def test_personas_are_resources_each_caller_sees_its_own(stores: UserStores) -> None:
    async def read(client: Client) -> tuple[list[str], Any, Any]:
        listed = [str(r.uri) for r in (await client.list_resources()).resources]
        personas = (await client.read_resource("secondself://personas")).contents[0]
        work = (await client.read_resource("secondself://personas/work")).contents[0]
        return (
            listed,
            json.loads(getattr(personas, "text", "")),
            json.loads(getattr(work, "text", "")),
        )

    listed, personas, work = session(stores, owner("default")({}))(read)
    assert listed == ["secondself://personas"]
    assert [p["name"] for p in personas["personas"]] == ["personal", "work"]
    assert (work["name"], work["wake_word"], work["threshold"]) == ("work", "alexa", 60)
    _, personas, work = session(stores, Caller("default", "work", "read"))(read)
    assert [p["name"] for p in personas["personas"]] == ["work"]

    async def other(client: Client) -> str:
        try:
            await client.read_resource("secondself://personas/personal")
        except MCPError as refused:
            return str(refused)
        return "read"

    assert "no persona 'personal'" in session(stores, Caller("default", "work", "read"))(other)
