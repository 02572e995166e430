"""One request to an OpenAI-compatible endpoint and its reply, under three deadlines.

Connecting is bounded by the connect timeout; after that every read is bounded by what is
left before the first-token deadline (until the first text arrives), then the total one.
Every failure is a CloudError whose message never quotes the API key.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

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


class Exchange:
    """`connect`, `send`, then read the reply as `events()` or `json_body()`; `close` at the
    end. The reader sets `ok` once the whole answer has arrived."""

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
        self._conn: http.client.HTTPConnection | None = None
        self._sock: socket.socket | None = None
        self._reply: http.client.HTTPResponse | None = None

    def close(self) -> None:
        if self._reply is not None:
            self._reply.close()
        if self._conn is not None:
            self._conn.close()

    # -- phases ----------------------------------------------------------------------------

    def connect(self, conn: http.client.HTTPConnection) -> None:
        self._conn = conn
        where = self.request.endpoint
        try:
            conn.connect()
        except TimeoutError:
            raise CloudError(
                CloudError.TIMEOUT,
                f"connecting to {where} took over {self.timeouts.connect_s:g} s",
            ) from None
        except OSError as exc:
            raise CloudError(
                CloudError.UNREACHABLE, f"cannot reach {where}: {_os_reason(exc)}"
            ) from None
        self._sock = conn.sock

    def send(self) -> None:
        """Send the request and take the reply's status (an error unless 200)."""
        conn = self._conn
        assert conn is not None
        request = self.request
        try:
            self._arm()
            conn.request("POST", request.path, body=request.body, headers=request.headers)
            self._reply = conn.getresponse()
        except TimeoutError:
            raise self._timeout() from None
        except (OSError, http.client.HTTPException) as exc:
            raise self._lost(exc) from None
        self._check_status(self._reply)

    def _check_status(self, reply: http.client.HTTPResponse) -> None:
        if reply.status == 200:
            return
        detail = ""
        try:
            self._arm()
            data = json.loads(reply.read(16384) or b"null")
            if isinstance(data, dict) and isinstance(data.get("error"), dict):
                detail = str(data["error"].get("message", ""))
            elif isinstance(data, dict) and "detail" in data:
                detail = str(data["detail"])
        except (ValueError, OSError, http.client.HTTPException, CloudError):
            pass  # the status says enough
        detail = f": {self._redact(detail)}" if detail else ""
        code = CloudError.AUTH if reply.status in (401, 403) else CloudError.HTTP
        raise CloudError(
            code, f"{self.request.endpoint} answered HTTP {reply.status} {reply.reason}{detail}"
        )

    def first_token_received(self) -> None:
        self._first_token = True

    def events(self) -> Iterator[dict[str, Any]]:
        """The JSON objects of the server-sent events, until `data: [DONE]` or the end."""
        reply = self._reply
        assert reply is not None
        data: list[bytes] = []
        while True:
            try:
                self._arm()
                line = reply.readline()
            except TimeoutError:
                raise self._timeout() from None
            except (OSError, http.client.HTTPException) as exc:
                raise self._lost(exc) from None
            self._check_deadline()
            if not line:
                return  # the server closed the stream
            line = line.rstrip(b"\r\n")
            if line.startswith(b"data:"):
                data.append(line[5:].strip())
                continue
            if line or not data:
                continue  # a comment (": ping"), an event name, or a blank keep-alive
            payload, data = b"\n".join(data), []
            if payload == b"[DONE]":
                return
            yield self._parse(payload)

    def json_body(self) -> dict[str, Any]:
        reply = self._reply
        assert reply is not None
        chunks: list[bytes] = []
        try:
            while True:
                self._arm()
                chunk = reply.read1(65536)
                self._check_deadline()
                if not chunk:
                    break
                chunks.append(chunk)
        except TimeoutError:
            raise self._timeout() from None
        except (OSError, http.client.HTTPException) as exc:
            raise self._lost(exc) from None
        return self._parse(b"".join(chunks))

    # -- helpers ---------------------------------------------------------------------------

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

    def _arm(self) -> None:
        """Bound the next socket read by what is left before the current deadline."""
        left = self._deadline() - self._clock()
        if left <= 0:
            raise self._timeout()
        if self._sock is not None:
            self._sock.settimeout(left)

    def _check_deadline(self) -> None:
        if self._clock() > self._deadline():
            raise self._timeout()

    def _timeout(self) -> CloudError:
        timeouts = self.timeouts
        if self._first_token:
            what = f"the answer took over {timeouts.total_s:g} s"
        else:
            what = f"no answer within {min(timeouts.first_token_s, timeouts.total_s):g} s"
        return CloudError(CloudError.TIMEOUT, f"{self.request.endpoint}: {what}")

    def _lost(self, exc: BaseException) -> CloudError:
        where = self.request.endpoint
        if isinstance(exc, http.client.HTTPException) and not isinstance(exc, ConnectionError):
            return CloudError(CloudError.BAD_REPLY, f"{where} sent a broken HTTP reply")
        return CloudError(CloudError.UNREACHABLE, f"connection to {where} lost: {_os_reason(exc)}")


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__
