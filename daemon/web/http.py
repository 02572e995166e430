"""A small HTTP/1.1 server on asyncio streams (stdlib only): one request per connection.

It parses a request head and a bounded body into a `Request`, hands it to one handler and
writes the `Response` back, either whole or as a stream of chunks (Server-Sent Events).
Everything about what is served lives in the handler; this module only speaks HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger(__name__)

HEAD_LIMIT = 8192  # bytes of request line and headers we read at most
BODY_LIMIT = 256 * 1024  # a memory is at most 32,000 characters: this is room for its JSON
READ_TIMEOUT_S = 5.0
MAX_QUERY_FIELDS = 32
MAX_NESTING = 16  # the API's bodies are flat objects; 100,000 deep overflowed the parser
JSON = "application/json"
# A string (closed or not: it ends the scan, so no quote is read twice) or a bracket.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]++|\\.)*+"?|[][{}]', re.DOTALL)


class HttpError(Exception):
    """A request we refuse: the status and a one-line reason (sent as JSON)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # as sent, not percent-decoded: routes match it exactly
    query: Mapping[str, str]
    headers: Mapping[str, str]  # names in lower case
    body: bytes = b""

    def json(self) -> dict[str, object]:
        """The body as a JSON object; HttpError 400/415 when it is not one."""
        kind = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != JSON:
            raise HttpError(415, "not-json", "send the request body as application/json")
        try:
            text = (self.body or b"{}").decode("utf-8")  # JSON's own encoding (RFC 8259)
        except UnicodeDecodeError:
            raise HttpError(400, "bad-json", "the request body is not UTF-8") from None
        if too_deep(text):
            raise HttpError(400, "bad-json", f"the request body nests over {MAX_NESTING} deep")
        try:
            data = json.loads(text)
        except ValueError:
            raise HttpError(400, "bad-json", "the request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise HttpError(400, "bad-json", "the request body must be a JSON object")
        return data


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()
    stream: AsyncGenerator[bytes, None] | None = field(default=None, compare=False)


Handler = Callable[[Request], Awaitable[Response]]


def too_deep(body: str) -> bool:
    """Whether a JSON text's arrays and objects nest over MAX_NESTING deep (brackets in
    strings do not count), read without parsing it: the parser recurses on each level."""
    depth = 0
    for token in _JSON_TOKEN.finditer(body):
        if token[0] in ("[", "{"):
            depth += 1
            if depth > MAX_NESTING:
                return True
        elif token[0] in ("]", "}"):
            depth -= 1
    return False


def json_response(data: object, status: int = 200) -> Response:
    return Response(status, json.dumps(data, ensure_ascii=False).encode("utf-8"))


def error_response(status: int, code: str, message: str) -> Response:
    # One line: a message with a newline in it would be two.
    line = " ".join(message.split())
    return json_response({"error": line, "code": code}, status)


def parse_head(head: bytes) -> tuple[str, str, dict[str, str], dict[str, str]]:
    """(method, path, query, headers) of a request head; HttpError 400 when malformed."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # latin-1 decodes any byte; kept for clarity
        raise HttpError(400, "bad-request", "bad request") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0].isalpha():
        raise HttpError(400, "bad-request", "bad request line")
    method, target, _version = parts
    if not target.startswith("/"):
        raise HttpError(400, "bad-request", "the request target must be a path")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        name = name.strip().lower()
        if not colon or not name or " " in name:
            raise HttpError(400, "bad-request", "malformed header line")
        if name in headers and name in ("host", "content-length", "origin"):
            raise HttpError(400, "bad-request", f"repeated {name} header")
        headers[name] = value.strip()
    split = urlsplit(target)
    try:
        pairs = parse_qsl(
            split.query, keep_blank_values=True, strict_parsing=False,
            max_num_fields=MAX_QUERY_FIELDS,
        )  # fmt: skip
    except ValueError:
        raise HttpError(400, "bad-query", "too many query parameters") from None
    query: dict[str, str] = {}
    for key, value in pairs:
        if key in query:
            raise HttpError(400, "bad-query", f"query parameter {key!r} is given twice")
        query[key] = value
    return method.upper(), split.path, query, headers


def body_length(headers: Mapping[str, str], limit: int) -> int:
    if "transfer-encoding" in headers:
        raise HttpError(411, "length-required", "send the body with a Content-Length")
    raw = headers.get("content-length", "0")
    if not (raw.isascii() and raw.isdigit() and len(raw) < 19):
        raise HttpError(400, "bad-request", "bad Content-Length")
    length = int(raw)
    if length > limit:
        raise HttpError(413, "too-large", f"the request body is over {limit:,} bytes")
    return length


class HttpServer:
    """The listening socket, and the open streams it must end when it closes."""

    def __init__(self, handler: Handler, body_limit: int) -> None:
        self._handler = handler
        self._body_limit = body_limit
        self._streams: set[asyncio.Task[None]] = set()
        self._on_close: list[Callable[[], None]] = []
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> HttpServer:
        self.server = await asyncio.start_server(self._serve, host, port, limit=HEAD_LIMIT)
        return self

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    def on_close(self, callback: Callable[[], None]) -> None:
        self._on_close.append(callback)

    def close(self) -> None:
        """Stop listening, end open event streams, then run the close callbacks."""
        if self.server is not None:
            self.server.close()
        for task in list(self._streams):
            task.cancel()
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("closing the web server: %r failed", callback)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = b""
        refused = False
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
                method, path, query, headers = parse_head(head[:-4])
                length = body_length(headers, self._body_limit)
                body = b""
                if length:
                    body = await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT_S)
                request = Request(method, path, query, headers, body)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                response = error_response(400, "bad-request", "bad request")
            except HttpError as exc:
                refused = exc.status == 413
                response = error_response(exc.status, exc.code, exc.message)
            else:
                response = await self._respond(request)
            await self._write(writer, response, head.startswith(b"HEAD "))
            if refused:  # let the client finish sending before we close, or it sees a reset
                await _drain_unread(reader, writer)
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _respond(self, request: Request) -> Response:
        try:
            return await self._handler(request)
        except HttpError as exc:
            return error_response(exc.status, exc.code, exc.message)
        except Exception:  # a bug here must not take the daemon down
            log.exception("web request %s %s failed", request.method, request.path)
            return error_response(500, "internal", "internal error (see the daemon's log)")

    async def _write(self, writer: asyncio.StreamWriter, response: Response, head: bool) -> None:
        reason = HTTPStatus(response.status).phrase
        lines = [f"HTTP/1.1 {response.status} {reason}", f"Content-Type: {response.content_type}"]
        if response.stream is None:
            lines.append(f"Content-Length: {len(response.body)}")
        lines += [f"{name}: {value}" for name, value in response.headers]
        lines.append("Connection: close")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if head:
            await writer.drain()
            return
        if response.stream is None:
            writer.write(response.body)
            await writer.drain()
            return
        task = asyncio.current_task()
        assert task is not None
        self._streams.add(task)
        try:
            async for chunk in response.stream:
                writer.write(chunk)
                await writer.drain()
        except asyncio.CancelledError:
            pass  # the server is closing: end the stream, close the connection
        finally:
            self._streams.discard(task)
            with contextlib.suppress(Exception):
                await response.stream.aclose()


async def _drain_unread(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """After refusing a body: stop writing, read (and drop) what is still coming, briefly."""
    with contextlib.suppress(OSError, RuntimeError):
        writer.write_eof()
    with contextlib.suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(1.0):
            dropped = 0
            while dropped < 16 * BODY_LIMIT and (chunk := await reader.read(65536)):
                dropped += len(chunk)


async def serve(handler: Handler, host: str, port: int, body_limit: int = BODY_LIMIT) -> HttpServer:
    """Serve `handler` on host:port (OSError when the port is taken)."""
    return await HttpServer(handler, body_limit).start(host, port)
