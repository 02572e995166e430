"""The HTTP stack under the page, without models: the OpenAPI schema names every route, the
limits on a request's head, body and time, repeated headers, the security headers on every
answer, a bug as a one-line 500, and uvicorn inside the caller's loop (no signal handler of
its own; a port in use is an OSError)."""

from __future__ import annotations

import asyncio
import http.client
import json
import signal
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from fastapi.routing import APIRoute
from numpy.typing import NDArray

from secondself.core.bus import Bus
from secondself.household.personas import Catalog, Defaults
from secondself.household.users import Household
from secondself.memory.store import MemoryStore
from secondself.service.metrics import Metrics
from secondself.web import guard
from secondself.web.limits import Limits
from secondself.web.server import serve_metrics, serve_web
from secondself.web.serving import WebServer
from secondself.web.stores import UserStores
from tests.support.loop_thread import LoopThread

pytestmark = pytest.mark.unit

TOKEN = "T" * 43
LIMITS = Limits(read_timeout_s=1)  # short, so waiting for a slow client takes a second
DEFAULTS = Defaults("hey_jarvis", "en_US-joe-medium", "qwen2.5-0.5b-instruct")
CATALOG = Catalog(
    wake_words=frozenset({"hey_jarvis"}),
    voices=frozenset({"en_US-joe-medium"}),
    models=frozenset({"qwen2.5-0.5b-instruct"}),
)


class NoEmbedder:
    """No request here gets as far as embedding."""

    name = "none"
    dimensions = 384

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        raise AssertionError("nothing here should embed")


def broken_store(user: str) -> MemoryStore:
    raise RuntimeError("a bug in the page")


@dataclass
class Stack:
    server: WebServer
    home: Path
    runner: LoopThread = field(repr=False)

    @property
    def port(self) -> int:
        return self.server.port

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes, http.client.HTTPMessage]:
        sent = {"Host": "127.0.0.1", "Authorization": f"Bearer {TOKEN}", "X-Secondself": "1"}
        if body is not None:
            sent["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers={**sent, **(headers or {})})
            response = conn.getresponse()
            return response.status, response.read(), response.msg
        finally:
            conn.close()

    def raw(self, data: bytes, wait_s: float = 10) -> bytes:
        """What the server sends back to `data`, until it closes or `wait_s` pass."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=wait_s) as conn:
            conn.sendall(data)
            received = b""
            while chunk := conn.recv(65536):
                received += chunk
                if b"\r\n\r\n" in received and _whole(received):
                    break
            return received


def _whole(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def json_of(response: bytes) -> dict[str, str]:
    data = json.loads(response.partition(b"\r\n\r\n")[2])
    assert isinstance(data, dict)
    return data


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    home = tmp_path / "home"
    bus = Bus()
    household = Household(home, DEFAULTS, CATALOG)
    stores = UserStores(household, NoEmbedder(), bus, borrow=broken_store)
    runner = LoopThread()
    server = runner.run(
        serve_web(Metrics().render, "127.0.0.1", 0, stores, bus, "default", TOKEN, LIMITS)
    )
    yield Stack(server, home, runner)
    runner.loop.call_soon_threadsafe(server.close)
    runner.run(server.wait_closed())
    runner.close()


def test_the_openapi_schema_names_every_route(stack: Stack) -> None:
    status, body, _ = stack.call("GET", "/openapi.json", headers={"Authorization": ""})
    assert status == 200  # public, as the page's code is
    schema = json.loads(body)
    routes = stack.server.app.routes
    served = {(r.path, m.lower()) for r in routes if isinstance(r, APIRoute) for m in r.methods}
    listed = {(path, m) for path, operations in schema["paths"].items() for m in operations}
    assert served == listed
    # Nothing is served outside the schema but the schema itself.
    others = [r.path for r in routes if not isinstance(r, APIRoute)]
    assert others == ["/openapi.json"]
    assert {"/metrics", "/", "/api/memories", "/api/memories/{memory_id}", "/api/events"} <= set(
        schema["paths"]
    )
    remember = schema["paths"]["/api/memories"]["post"]
    body_schema = remember["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/NewMemory"}
    assert schema["components"]["schemas"]["NewMemory"]["required"] == ["text"]
    assert remember["security"] == [{"HTTPBearer": []}]
    assert "422" not in remember["responses"]  # bad input is a 400 here
    assert remember["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }


def test_a_request_head_sent_too_slowly_is_let_go(stack: Stack) -> None:
    started = time.monotonic()
    assert stack.raw(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n") == b""  # closed
    assert 0.8 < time.monotonic() - started < 5
    assert stack.call("GET", "/metrics")[0] == 200


def test_headers_over_the_limit_are_refused(stack: Stack) -> None:
    padded = b"GET /api/users HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n"
    refused = stack.raw(padded)
    assert refused.startswith(b"HTTP/1.1 431")
    assert json_of(refused)["code"] == "head-too-large"
    endless = b"GET /api/users HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"a" * 20000
    assert stack.raw(endless).startswith(b"HTTP/1.1 400")  # never held whole


def test_a_body_sent_too_slowly_is_refused(stack: Stack) -> None:
    head = (
        b"POST /api/memories HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\nX-Secondself: 1\r\n"
        b"Content-Length: 100\r\n\r\n"
    )
    started = time.monotonic()
    refused = stack.raw(head + b'{"text": "')
    assert refused.startswith(b"HTTP/1.1 408")
    assert json_of(refused)["code"] == "too-slow"
    assert time.monotonic() - started < 5
    assert not (stack.home / "users" / "default" / "memory.db").exists()


def test_a_chunked_body_over_the_limit_is_refused(stack: Stack) -> None:
    head = (
        b"POST /api/memories HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\nX-Secondself: 1\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"a" * 65536
    chunks = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 5 + b"0\r\n\r\n"
    refused = stack.raw(head + chunks)
    assert refused.startswith(b"HTTP/1.1 413")
    assert json_of(refused)["code"] == "too-large"
    assert stack.call("GET", "/api/users")[0] == 200


def test_a_header_that_counts_may_come_once(stack: Stack) -> None:
    twice = b"GET /api/users HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n"
    assert stack.raw(twice).startswith(b"HTTP/1.1 400")  # h11 refuses a second Host itself
    token = b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
    refused = stack.raw(
        b"GET /api/users HTTP/1.1\r\nHost: localhost\r\n" + token + b"Authorization: x\r\n\r\n"
    )
    assert refused.startswith(b"HTTP/1.1 400")
    assert json_of(refused) == {"error": "repeated authorization header", "code": "bad-request"}


def test_every_answer_has_the_safe_headers(stack: Stack) -> None:
    huge = {"Content-Length": str(10**7)}
    for method, path, headers in (
        ("GET", "/", {}),
        ("GET", "/api/users", {}),
        ("GET", "/metrics", {"Host": "evil.example", "Authorization": ""}),  # 421
        ("GET", "/api/nothing", {}),  # 404
        ("POST", "/api/memories", huge),  # 413, before a byte of it is read
    ):
        _, _, sent = stack.call(method, path, headers=headers)
        for name, value in guard.SAFE_HEADERS:
            assert sent[name] == value, (path, name)


def test_a_bug_is_a_one_line_500_and_the_server_carries_on(stack: Stack) -> None:
    status, body, _ = stack.call("POST", "/api/memories", json.dumps({"text": "x"}).encode())
    assert status == 500 and b"\n" not in body
    assert json.loads(body) == {
        "error": "internal error (see the daemon's log)",
        "code": "internal",
    }
    assert b"a bug in the page" not in body
    assert stack.call("GET", "/api/users")[0] == 200


def test_uvicorn_runs_in_our_loop_with_our_signal_handlers() -> None:
    """The daemon owns SIGTERM and SIGINT (its own handlers, in the main thread); a port in
    use is an OSError for it to log, not an exit."""

    async def main() -> None:
        before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        server = await serve_metrics(Metrics().render, "127.0.0.1", 0)
        try:
            assert {sig: signal.getsignal(sig) for sig in before} == before
            with pytest.raises(OSError):
                await serve_metrics(Metrics().render, "127.0.0.1", server.port)
            reply = await asyncio.to_thread(_get, server.port, "/metrics")
            assert reply == 200
        finally:
            server.close()
            await server.wait_closed()
        assert {sig: signal.getsignal(sig) for sig in before} == before

    asyncio.run(main())


def _get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": "localhost"})
        return conn.getresponse().status
    finally:
        conn.close()
