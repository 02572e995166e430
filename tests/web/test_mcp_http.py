"""The daemon's /mcp through the official MCP client (streamable HTTP) against a real page
on a loopback port, with the real store and MiniLM embedder: the tools listed and each
called as the install token's owner, refused calls (no token, a wrong one, another site,
another host name, a tool's bad input) that change nothing, and the page still served."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from secondself.memory.embedding import LlamaEmbedder
from secondself.web.callers import Caller
from tests.web.test_web import (  # noqa: F401 (embedder: the fixture)
    MARKER,
    Page,
    assert_error,
    embedder,
    start_page,
    stop_page,
    texts,
)

pytestmark = pytest.mark.e2e

T = TypeVar("T")
OWNER = Caller("default", "personal", "admin")  # the install token's, for now


class RecordedAnswers:
    """The daemon's answers stand-in (its models are another test's): records who asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[Caller, str]] = []

    async def ask(self, caller: Caller, question: str) -> dict[str, Any]:
        self.asked.append((caller, question))
        return {"answer": f"You said: {MARKER}.", "personal_score": 97, "sources": []}


@pytest.fixture
def answers() -> RecordedAnswers:
    return RecordedAnswers()


@pytest.fixture
def page(tmp_path: Path, embedder: LlamaEmbedder, answers: RecordedAnswers) -> Iterator[Page]:  # noqa: F811
    started = start_page(tmp_path / "home", embedder, answers)
    yield started
    stop_page(started)


def connect(page: Page, use: Callable[[Client], Awaitable[T]], token: str | None = None) -> T:
    """Runs `use(client)` against the page's /mcp with `token` (default: the page's)."""
    headers = {"Authorization": f"Bearer {token or page.token}"}

    async def connected() -> T:
        async with (
            asyncio.timeout(60),
            httpx2.AsyncClient(headers=headers) as http,
            Client(streamable_http_client(f"{page.origin}/mcp", http_client=http)) as client,
        ):
            return await use(client)

    return asyncio.run(connected())


def leaves(error: BaseException) -> list[BaseException]:
    """The errors inside an exception group (the client's task groups nest them)."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


def data(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def test_every_tool_over_http_as_the_owner(page: Page, answers: RecordedAnswers) -> None:
    async def use(client: Client) -> dict[str, Any]:
        tools = [t.name for t in (await client.list_tools()).tools]
        saved = data(await client.call_tool("remember", {"text": f"my locker code is {MARKER}"}))
        found = data(await client.call_tool("search_memories", {"query": "locker code"}))
        answer = data(await client.call_tool("ask", {"question": "What is my locker code?"}))
        personas = (await client.read_resource("secondself://personas")).contents[0]
        forgotten = data(await client.call_tool("forget", {"memory_id": saved["memory"]["id"]}))
        return locals()

    seen = connect(page, use)
    assert seen["tools"] == ["search_memories", "remember", "forget", "ask"]
    memory = seen["saved"]["memory"]
    assert (memory["persona"], memory["source"]) == ("personal", "mcp")
    assert [m["id"] for m in seen["found"]["memories"]] == [memory["id"]]
    assert seen["answer"]["answer"] == f"You said: {MARKER}."
    assert answers.asked == [(OWNER, "What is my locker code?")]
    assert json.loads(getattr(seen["personas"], "text", ""))["user"] == "default"
    assert seen["forgotten"]["forgotten"] == [memory["id"]]
    assert texts(page.call("GET", "/api/memories")) == []  # the page sees it gone


def test_a_tools_bad_input_is_a_tool_error_and_changes_nothing(page: Page) -> None:
    kept = page.remember(f"my bike lock is {MARKER}")

    async def use(client: Client) -> list[CallToolResult]:
        return [
            await client.call_tool("forget", {"memory_id": kept + 1}),
            await client.call_tool("forget", {"memory_id": "all"}),
            await client.call_tool("remember", {"text": "\x00\x01\x02"}),
            await client.call_tool("search_memories", {"query": "bike", "limit": 0}),
        ]

    unknown, not_an_id, binary, too_few = connect(page, use)
    assert all(r.is_error for r in (unknown, not_an_id, binary, too_few))
    assert f"no memory with id {kept + 1}" in str(getattr(unknown.content[0], "text", ""))
    assert texts(page.call("GET", "/api/memories")) == [f"my bike lock is {MARKER}"]


def test_no_token_or_a_wrong_one_reaches_no_tool(page: Page) -> None:
    page.remember(f"my pin is {MARKER}")
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    mcp = {"Accept": "application/json, text/event-stream"}
    for token in (None, "A" * len(page.token), page.token[:-1]):
        headers = {**mcp, "Authorization": f"Bearer {token}" if token else None}
        reply = page.call("POST", "/mcp", call, headers=headers)
        assert_error(reply, 401, "unauthorized")
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
        assert MARKER.encode() not in reply.body

    async def listing(client: Client) -> object:
        return await client.list_tools()

    with pytest.raises(BaseExceptionGroup) as refused:  # the client cannot even connect
        connect(page, listing, token="B" * len(page.token))
    assert [type(e) for e in leaves(refused.value)] == [MCPError]
    # Another site's page, and a rebound host name, are refused before any tool too.
    assert_error(
        page.call("POST", "/mcp", call, headers={**mcp, "Sec-Fetch-Site": "cross-site"}), 403
    )
    assert_error(page.call("POST", "/mcp", call, headers={**mcp, "Host": "evil.example"}), 421)
    assert texts(page.call("GET", "/api/memories")) == [f"my pin is {MARKER}"]
    # With the token, the same request is answered.
    reply = page.call("POST", "/mcp", call, headers=mcp)
    assert reply.status == 200, reply.body
    assert "search_memories" in [t["name"] for t in reply.json["result"]["tools"]]
