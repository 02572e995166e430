"""How much a request may send, and how slowly: refused before the app reads any of it.

uvicorn parses HTTP; this middleware bounds what reaches the app: the request line and
headers (8 KiB, the singletons sent once), the query (32 fields, none twice: which one would
count?), and the body (256 KiB, in 5 s). A body declared too large is refused at once;
one sent in chunks is refused as soon as it passes the limit. How long a request's head may
take is the server's business (`serving.py`): the app sees a request only once it is whole.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from secondself.web.errors import HttpError, error_response

SINGLETONS = frozenset({b"host", b"content-length", b"origin", b"authorization"})


@dataclass(frozen=True, slots=True)
class Limits:
    head_bytes: int = 8192  # request line and headers
    body_bytes: int = 256 * 1024  # a memory is at most 32,000 characters: room for its JSON
    read_timeout_s: int = 5  # seconds for a request's head, for its body, and idle between requests
    query_fields: int = 32


DEFAULT_LIMITS = Limits()


class RequestLimits:
    """ASGI middleware: each refusal is a one-line JSON error, and the app is not called."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            length = self._check_head(scope)
        except HttpError as refused:
            refusal = error_response(
                refused.status_code, refused.code, refused.message, path=scope["path"]
            )
            await refusal(scope, receive, send)
            return
        await self.app(scope, self._bounded(receive, length), send)

    def _check_head(self, scope: Scope) -> int | None:
        """The declared body length; HttpError for a head or query we refuse."""
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        size = len(scope.get("raw_path", b"")) + len(scope["query_string"])
        size += sum(len(name) + len(value) + 4 for name, value in headers)
        if size > self.limits.head_bytes:
            raise HttpError(431, "head-too-large", "the request's headers are too large")
        names = [name for name, _ in headers]
        for name in SINGLETONS:
            if names.count(name) > 1:
                raise HttpError(400, "bad-request", f"repeated {name.decode()} header")
        check_query(scope["query_string"], self.limits.query_fields)
        raw = dict(headers).get(b"content-length")
        if raw is None:
            return None
        length = int(raw)  # the HTTP parser admits digits only
        if length > self.limits.body_bytes:
            raise HttpError(413, "too-large", self._too_large())
        return length

    def _bounded(self, receive: Receive, length: int | None) -> Receive:
        """`receive`, raising HttpError once the body passes the limit or its time."""
        deadline = asyncio.get_running_loop().time() + self.limits.read_timeout_s
        received = 0
        done = length == 0

        async def bounded() -> Message:
            nonlocal received, done
            if done:  # the body is in: what follows is the client going away
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise HttpError(408, "too-slow", "the request body was sent too slowly") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                done = not message.get("more_body", False)
                if received > self.limits.body_bytes:
                    raise HttpError(413, "too-large", self._too_large())
            return message

        return bounded

    def _too_large(self) -> str:
        return f"the request body is over {self.limits.body_bytes:,} bytes"


def check_query(query: bytes, max_fields: int) -> None:
    """HttpError 400 for a query with too many fields, or one given twice."""
    try:
        pairs = parse_qsl(
            query.decode("latin-1"), keep_blank_values=True, max_num_fields=max_fields
        )
    except ValueError:
        raise HttpError(400, "bad-query", "too many query parameters") from None
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise HttpError(400, "bad-query", f"query parameter {key!r} is given twice")
        seen.add(key)
