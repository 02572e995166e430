"""`secondself mcp`: the second self as an MCP server on stdin and stdout, for an MCP client
(Claude Desktop, any MCP client) that starts it as a command.

Scoped by the global `--user/--persona`. With stdio the process owner is the owner: whoever
can start this command can read the data home anyway, so it has the admin scope (search,
ask, remember, forget). stdout carries the protocol alone; log lines go to stderr. The
embedding model loads at start; the answer model with the first question.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

from secondself.cli.registry import Subparsers
from secondself.cli.store_access import load_embedder
from secondself.service.app import App
from secondself.service.session import TextSession, text_session
from secondself.web.callers import Caller
from secondself.web.stores import UserStores


class SessionAnswers:
    """`Answers` from the persona's text session (`secondself ask`'s), opened on the first
    question and kept for the next ones; one answer at a time."""

    def __init__(self, app: App) -> None:
        self._app = app
        self._open = contextlib.ExitStack()
        self._session: TextSession | None = None
        self._turn = asyncio.Lock()

    async def ask(self, caller: Caller, question: str) -> dict[str, Any]:
        async with self._turn:
            if self._session is None:  # loading the answer model blocks: off the loop
                opened = text_session(self._app)
                self._session = await asyncio.to_thread(self._open.enter_context, opened)
            return await self._session.ask(question)

    def close(self) -> None:
        self._open.close()


def _mcp(args: argparse.Namespace, app: App) -> int:
    from secondself.web.mcp_tools import SecondSelfTools  # the SDK: for this command only

    persona = app.current_persona()  # an unknown user or persona: one line, before serving
    caller = Caller(app.user, persona.name, "admin")
    stores = UserStores(app.household, load_embedder(app), app.bus)
    answers = SessionAnswers(app)
    tools = SecondSelfTools(stores, lambda: caller, asyncio.to_thread, answers)
    try:
        asyncio.run(tools.server().run_stdio_async())
    finally:
        answers.close()
        stores.close()
    return 0


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "mcp",
        help="serve MCP on stdin/stdout (search, remember, forget, ask; personas)",
        description="An MCP server on stdin and stdout for an MCP client that runs it as a "
        "command (Claude Desktop, any MCP client). It is the --user and --persona given, "
        "with the owner's rights: search, ask, remember and forget.",
    )
    p.set_defaults(handler=_mcp)
