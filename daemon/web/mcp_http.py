"""The MCP server on the daemon's port: the streamable-HTTP transport at `/mcp`.

Each request has passed the page's guard first (the Host check, the token, the cross-site
check: `guard.PageGuard`), so the SDK's own Host and Origin checks are off here. It runs
stateless and answers in JSON: each POST is one exchange, no session is kept between
requests, and nothing is left open for a client that goes away. The SDK (an import of
almost a second) is loaded, and its session manager started, by the first MCP request,
not by the daemon's start; closing the page stops it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Security
from fastapi.security import HTTPBearer
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from secondself.web.callers import Answers, Caller, Run
from secondself.web.errors import ErrorBody
from secondself.web.guard import MCP_PATH
from secondself.web.stores import UserStores

if TYPE_CHECKING:  # loaded by the first MCP request
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

BEARER = HTTPBearer(auto_error=False, description="the install's access token")
REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": what}
    for status, what in (
        (401, "no or a wrong token"), (403, "a cross-site request"),
        (413, "a body over 256 KiB"), (421, "a host name not this server's"),
    )
}  # fmt: skip
# The caller of the MCP request being served (the SDK runs each one in a task of its own,
# started from the request's: it inherits this).
_CALLER: ContextVar[Caller | None] = ContextVar("secondself_mcp_caller", default=None)


class McpEndpoint:
    """`/mcp` on the page's app; `callers(headers)` says who a request's token is."""

    def __init__(
        self,
        stores: UserStores,
        run: Run,
        callers: Callable[[Mapping[str, str]], Caller],
        answers: Answers | None = None,
    ) -> None:
        self._stores = stores
        self._run = run
        self._callers = callers
        self._answers = answers
        self._app: ASGIApp | None = None
        self._starting = asyncio.Lock()
        self._closing = asyncio.Event()
        self._serving: asyncio.Task[None] | None = None

    def add_route(self, app: FastAPI) -> None:
        app.add_api_route(
            MCP_PATH, self._answer, methods=["POST"], response_class=Response,
            dependencies=[Security(BEARER)], responses=REFUSALS,
            summary="MCP (streamable HTTP, stateless, JSON): search, remember, forget, ask",
        )  # fmt: skip

    def close(self) -> None:
        """Stop the MCP sessions' tasks (any exchange in flight ends)."""
        self._closing.set()

    async def _answer(self, request: Request) -> Response:
        caller = self._callers(request.headers)
        return _Exchange(await self._started(), caller)

    async def _started(self) -> ASGIApp:
        async with self._starting:
            if self._app is None:
                self._app = await self._start()
            return self._app

    async def _start(self) -> ASGIApp:
        manager = await asyncio.to_thread(self._manager)  # the import blocks: off the loop
        ready = asyncio.Event()

        async def serve() -> None:
            async with manager.run():
                ready.set()
                await self._closing.wait()

        self._serving = serving = asyncio.create_task(serve())
        waiting = asyncio.create_task(ready.wait())
        await asyncio.wait({serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if serving.done():
            waiting.cancel()
            serving.result()  # its error
            raise RuntimeError("the MCP session manager stopped as it started")
        return manager.handle_request

    def _manager(self) -> StreamableHTTPSessionManager:
        from mcp.server.transport_security import TransportSecuritySettings

        from secondself.web.mcp_tools import SecondSelfTools

        server = SecondSelfTools(self._stores, _current_caller, self._run, self._answers).server()
        server.streamable_http_app(  # makes its session manager; we route to it ourselves
            streamable_http_path=MCP_PATH,
            json_response=True,
            stateless_http=True,
            # The guard checked Host and Origin before routing, with this server's names.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        return server.session_manager


def _current_caller() -> Caller:
    caller = _CALLER.get()
    if caller is None:
        raise RuntimeError("an MCP tool ran outside an MCP request")
    return caller


class _Exchange(Response):
    """The MCP transport's own answer to the request (it writes the response itself),
    with the request's caller in place."""

    def __init__(self, app: ASGIApp, caller: Caller) -> None:
        super().__init__()
        self._app = app
        self._caller = caller

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _CALLER.set(self._caller)
        try:
            await self._app(scope, receive, send)
        finally:
            _CALLER.reset(token)
