"""One request to an OpenAI-compatible endpoint and its reply (httpx2), under three deadlines.

Connecting is bounded by the connect timeout. From then on the deadline is the first
token's until the first text arrives, then the whole answer's: every read waits at most
the read timeout, and a watchdog shuts the connection at the deadline itself, so a read
blocked on a silent server ends then rather than a read timeout later. Every failure is
a CloudError whose message never quotes the API key.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2

from secondself.answer.cloud_errors import CloudError


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect_s: float
    first_token_s: float
    total_s: float


@dataclass(frozen=True, slots=True)
class Request:
    endpoint: str  # "host:port", as errors name it (never the URL: it may hold a password)
    path: str
    headers: dict[str, str] = field(repr=False)  # the Authorization header holds the key
    body: bytes = field(repr=False)
    origin: str = ""  # "https://host:port", the path goes after it


class Watchdog:
    """Shuts the connection's socket once the exchange's deadline passes (a read blocked
    on it then returns at once); `fired` says it did."""

    def __init__(self) -> None:
        self.fired = False
        self._stream: Any = None  # httpcore's network stream: the TLS one once TLS starts
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpx2's `trace` extension: keeps the stream the exchange connected with."""
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self._stream = info.get("return_value")

    def arm(self, seconds: float) -> None:
        self.cancel()
        with self._lock:
            self._timer = threading.Timer(max(seconds, 0.0), self._shut)
            self._timer.daemon = True
            self._timer.start()

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _shut(self) -> None:
        sock = self._stream.get_extra_info("socket") if self._stream is not None else None
        if sock is None:
            return
        self.fired = True
        with contextlib.suppress(OSError):  # already closed: nothing is waiting on it
            # The plain socket's shutdown, under any TLS: it wakes a reader in another thread.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Exchange:
    """`send`, then read the reply as `events()` or `json_body()`; `close` at the end.
    The reader sets `ok` once the whole answer has arrived."""

    def __init__(
        self,
        request: Request,
        timeouts: Timeouts,
        clock: Callable[[], float],
        redact: Callable[[str], str],
    ) -> None:
        self.request = request
        self.timeouts = timeouts
        self._clock = clock
        self._redact = redact  # an endpoint's own error text may echo the key
        self.start = clock()
        self.ok = False
        self._first_token = False
        self._watchdog = Watchdog()
        self._client: httpx2.Client | None = None
        self._reply: httpx2.Response | None = None

    def close(self) -> None:
        self._watchdog.cancel()
        if self._reply is not None:
            self._reply.close()
        if self._client is not None:
            self._client.close()

    # -- phases ----------------------------------------------------------------------------

    def send(self, client: httpx2.Client, on_sent: Callable[[], None]) -> None:
        """Connect, send the request (`on_sent()` as it goes) and take the reply's status
        (an error unless 200)."""
        self._client = client
        request = self.request

        def trace(event: str, info: dict[str, Any]) -> None:
            self._watchdog.trace(event, info)
            if event == "connection.connect_tcp.complete":
                self._watchdog.arm(self._deadline() - self._clock())
            elif event == "http11.send_request_headers.started":
                on_sent()

        built = client.build_request(
            "POST",
            request.origin + request.path,
            headers=request.headers,
            content=request.body,
            extensions={"trace": trace},
        )
        try:
            self._reply = client.send(built, stream=True)
        except httpx2.ConnectTimeout:
            raise CloudError(
                CloudError.TIMEOUT,
                f"connecting to {request.endpoint} took over {self.timeouts.connect_s:g} s",
            ) from None
        except httpx2.ConnectError as exc:
            raise CloudError(
                CloudError.UNREACHABLE, f"cannot reach {request.endpoint}: {_reason(exc)}"
            ) from None
        except httpx2.TransportError as exc:
            raise self._failure(exc) from None
        self._check_status(self._reply)

    def _check_status(self, reply: httpx2.Response) -> None:
        if reply.status_code == 200:
            return
        detail = ""
        try:
            data = json.loads(self._head_of_body(reply) or b"null")
            if isinstance(data, dict) and isinstance(data.get("error"), dict):
                detail = str(data["error"].get("message", ""))
            elif isinstance(data, dict) and "detail" in data:
                detail = str(data["detail"])
        except (ValueError, httpx2.TransportError):
            pass  # the status says enough
        detail = f": {self._redact(detail)}" if detail else ""
        code = CloudError.AUTH if reply.status_code in (401, 403) else CloudError.HTTP
        raise CloudError(
            code,
            f"{self.request.endpoint} answered HTTP {reply.status_code} "
            f"{reply.reason_phrase}{detail}",
        )

    def first_token_received(self) -> None:
        if not self._first_token:
            self._first_token = True
            self._watchdog.arm(self._deadline() - self._clock())  # now the whole answer's

    def events(self) -> Iterator[dict[str, Any]]:
        """The JSON objects of the server-sent events, until `data: [DONE]` or the end."""
        reply = self._reply
        assert reply is not None
        try:
            for event in httpx2.EventSource(reply):
                self._check_deadline()
                if event.data == "[DONE]":
                    return
                if event.data:  # not a keep-alive
                    yield self._parse(event.data.encode())
        except httpx2.SSEError:
            raise CloudError(
                CloudError.BAD_REPLY, f"{self.request.endpoint} sent no event stream"
            ) from None
        except httpx2.TransportError as exc:
            raise self._failure(exc) from None
        self._check_deadline()  # the end may be the watchdog's

    def json_body(self) -> dict[str, Any]:
        reply = self._reply
        assert reply is not None
        chunks: list[bytes] = []
        try:
            for chunk in reply.iter_bytes():
                self._check_deadline()
                chunks.append(chunk)
        except httpx2.TransportError as exc:
            raise self._failure(exc) from None
        self._check_deadline()
        return self._parse(b"".join(chunks))

    # -- helpers ---------------------------------------------------------------------------

    def _head_of_body(self, reply: httpx2.Response, limit: int = 16384) -> bytes:
        """At most `limit` bytes of an error reply's body (it is shown, not parsed whole)."""
        data = b""
        for chunk in reply.iter_bytes():
            data += chunk
            if len(data) >= limit:
                break
        return data[:limit]

    def _parse(self, payload: bytes) -> dict[str, Any]:
        where = self.request.endpoint
        try:
            data = json.loads(payload)
        except ValueError:
            raise CloudError(
                CloudError.BAD_REPLY, f"{where} sent a reply that is not JSON"
            ) from None
        if not isinstance(data, dict):
            raise CloudError(CloudError.BAD_REPLY, f"{where} sent unexpected JSON")
        if isinstance(data.get("error"), dict):
            detail = self._redact(str(data["error"].get("message", "")))
            raise CloudError(CloudError.HTTP, f"{where} failed: {detail}")
        return data

    def _deadline(self) -> float:
        total = self.start + self.timeouts.total_s
        if self._first_token:
            return total
        return min(total, self.start + self.timeouts.first_token_s)

    def _check_deadline(self) -> None:
        if self._watchdog.fired or self._clock() > self._deadline():
            raise self._timeout()

    def _timeout(self) -> CloudError:
        timeouts = self.timeouts
        if self._first_token:
            what = f"the answer took over {timeouts.total_s:g} s"
        else:
            what = f"no answer within {min(timeouts.first_token_s, timeouts.total_s):g} s"
        return CloudError(CloudError.TIMEOUT, f"{self.request.endpoint}: {what}")

    def _failure(self, exc: httpx2.TransportError) -> CloudError:
        """What a failed read or write means: a deadline passed, a broken reply, or the
        connection lost."""
        where = self.request.endpoint
        if isinstance(exc, httpx2.TimeoutException) or self._watchdog.fired:
            return self._timeout()
        if isinstance(exc, httpx2.ProtocolError) and _parser_refused(exc):
            return CloudError(CloudError.BAD_REPLY, f"{where} sent a broken HTTP reply")
        return CloudError(CloudError.UNREACHABLE, f"connection to {where} lost: {_reason(exc)}")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The errors under httpx2's: what httpcore2 raised, and what it was raised from."""
    under = exc.__cause__ or exc.__context__
    while under is not None:
        yield under
        under = under.__cause__ or under.__context__


def _parser_refused(exc: BaseException) -> bool:
    """Whether the HTTP parser (h11) refused what came; else the server hung up."""
    return any(type(cause).__module__.startswith("h11") for cause in _causes(exc))


def _reason(exc: BaseException) -> str:
    """The system's reason ("connection refused"), from the OSError under httpx2's error."""
    for cause in _causes(exc):
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
    return type(exc).__name__
