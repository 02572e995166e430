"""`secondself mcp` through the official MCP client over stdio, in a subprocess with a
temporary data home, the real store and models: the tools listed and each called (a
memory remembered, found, asked about and forgotten), refused calls that change nothing
and leave the server running, the personas as resources, and a bad --persona."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult

pytestmark = pytest.mark.e2e

T = TypeVar("T")
START_S = 120.0  # a cold start on two shared cores: imports and the embedding model


def serve(home: Path, use: Callable[[Client], Awaitable[T]], *args: str) -> T:
    """Runs `use(client)` against `secondself --home HOME ARGS mcp`."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "secondself", "--home", str(home), *args, "mcp"],
        env=dict(os.environ),
    )

    async def connected() -> T:
        async with asyncio.timeout(START_S * 2), Client(params) as client:
            return await use(client)

    return asyncio.run(connected())


def data(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def error(result: CallToolResult) -> str:
    assert result.is_error, result
    return str(getattr(result.content[0], "text", ""))


def test_every_tool_over_stdio(tmp_path: Path) -> None:
    async def use(client: Client) -> dict[str, Any]:
        tools = [t.name for t in (await client.list_tools()).tools]
        saved = data(await client.call_tool("remember", {"text": "my dog is called Biscuit"}))
        memory_id = saved["memory"]["id"]
        found = data(await client.call_tool("search_memories", {"query": "dog's name"}))
        answer = data(await client.call_tool("ask", {"question": "What is my dog called?"}))
        forgotten = data(await client.call_tool("forget", {"memory_id": memory_id}))
        after = data(await client.call_tool("search_memories", {"query": "dog's name"}))
        return locals()

    seen = serve(tmp_path, use)
    assert seen["tools"] == ["search_memories", "remember", "forget", "ask"]
    assert seen["saved"]["memory"]["source"] == "mcp"
    assert [m["id"] for m in seen["found"]["memories"]] == [seen["memory_id"]]
    answer = seen["answer"]
    assert "Biscuit" in answer["answer"] and answer["persona"] == "personal"
    assert answer["personal_score"] >= 60 and not answer["below_threshold"]
    assert [s["id"] for s in answer["sources"]] == [seen["memory_id"]]
    # Forgotten with the turn that quoted it (the answer above), and nothing is left to find.
    (turn,) = seen["forgotten"]["turns_removed"]
    assert seen["forgotten"]["forgotten"] == [seen["memory_id"], turn]
    assert seen["after"] == {"memories": []}


def test_refused_calls_change_nothing_and_the_server_carries_on(tmp_path: Path) -> None:
    async def use(client: Client) -> tuple[list[str], dict[str, Any]]:
        kept = data(await client.call_tool("remember", {"text": "my locker is number 12"}))
        refused = [
            error(await client.call_tool("forget", {"memory_id": kept["memory"]["id"] + 1})),
            error(await client.call_tool("forget", {"memory_id": -1})),
            error(await client.call_tool("search_memories", {"query": " "})),
            error(await client.call_tool("remember", {"text": 42})),
            error(await client.call_tool("ask", {"question": ""})),
        ]
        return refused, data(await client.call_tool("search_memories", {"query": "locker"}))

    refused, found = serve(tmp_path, use)
    assert "no memory with id 2" in refused[0]
    assert "memory_id" in refused[1] and "text" in refused[3]
    assert "the search text is empty" in refused[2] and "the question is empty" in refused[4]
    assert [m["text"] for m in found["memories"]] == ["my locker is number 12"]


def test_the_personas_of_the_user_are_resources(tmp_path: Path) -> None:
    add = [sys.executable, "-m", "secondself", "--home", str(tmp_path)]
    made = subprocess.run(
        [*add, "persona", "create", "work", "--directives", "Be brief."],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr

    async def use(client: Client) -> tuple[Any, Any]:
        listed = (await client.read_resource("secondself://personas")).contents[0]
        work = (await client.read_resource("secondself://personas/work")).contents[0]
        return json.loads(getattr(listed, "text", "")), json.loads(getattr(work, "text", ""))

    listed, work = serve(tmp_path, use, "--persona", "work")
    assert [p["name"] for p in listed["personas"]] == ["personal", "work"]
    assert work["directives"] == "Be brief."


def test_an_unknown_persona_is_one_line_before_anything_is_served(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "secondself", "--home", str(tmp_path), "--persona", "nobody", "mcp"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "no persona 'nobody'" in done.stderr
