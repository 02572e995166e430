"""Hostile input to the page's API: oversized and malformed bodies and headers, slow
clients, 100,000-deep JSON, lone surrogates, non-standard numbers, and regex templates in
corrections (finding 8). Each is a 4xx that changes nothing, or (a correction) text saved
word for word; the daemon keeps answering and its log holds no traceback."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from secondself.voice.virtual_soundcard import VirtualSoundCard
from tests.adversarial.daemon import Daemon, assert_refused, cli, read_to_close, status_of
from tests.adversarial.planted import DOG, DOG_TURN, copy_household, jsonl, ok, state

pytestmark = [pytest.mark.adversarial, pytest.mark.e2e]

TEMPLATES = ["\\9", "\\g<0>", "\\1", "\\g<name>", "$0", "$&", "\\", "(?P<x>.*)", "\\n"]


def corrector(n: int) -> str:
    """A persona of its own per correction: each corrects its own last answer."""
    return f"fix{n}"


@pytest.fixture(scope="module")
def daemon(
    soundcard: VirtualSoundCard, household: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Daemon]:
    home = tmp_path_factory.mktemp("input")
    data = copy_household(household, home)
    records: list[dict[str, object]] = []
    for n in range(len(TEMPLATES)):
        ok(cli(data, "persona", "create", corrector(n)))
        records += [
            {"id": 2 * n + 1, "text": DOG, "persona": corrector(n)},
            {"id": 2 * n + 2, "text": DOG_TURN, "kind": "conversation_turn",
             "persona": corrector(n), "quotes": [2 * n + 1]},
        ]  # fmt: skip
    (home / "fixes.jsonl").write_text(jsonl(records))
    ok(cli(data, "import", str(home / "fixes.jsonl")))
    with Daemon.running(home) as running:
        yield running


def raw_request(daemon: Daemon, head: str, body: bytes = b"") -> int:
    """The status of a hand-made request (the head's lines, ours added), 0 if none came."""
    ours = f"Host: {daemon.host}\r\nAuthorization: Bearer {daemon.token}\r\nX-Secondself: 1\r\n"
    request = head.replace("\r\n", f"\r\n{ours}", 1) + "Connection: close\r\n\r\n"
    return status_of(daemon.send(request.encode("latin-1") + body))


# --- sizes -----------------------------------------------------------------------------------

JSON = "Content-Type: application/json\r\n"
MALFORMED = {
    "claims-a-terabyte": f"POST /api/memories HTTP/1.1\r\n{JSON}Content-Length: 1000000000000\r\n",
    "negative-length": f"POST /api/memories HTTP/1.1\r\n{JSON}Content-Length: -1\r\n",
    "length-not-a-number": f"POST /api/memories HTTP/1.1\r\n{JSON}Content-Length: 1e3\r\n",
    "two-lengths": f"POST /api/memories HTTP/1.1\r\n{JSON}Content-Length: 2\r\nContent-Length: 14\r\n",
    "length-and-chunked": f"POST /api/memories HTTP/1.1\r\n{JSON}Content-Length: 14\r\n"
    "Transfer-Encoding: chunked\r\n",
    "huge-header": f"GET /api/users HTTP/1.1\r\nX-Big: {'a' * 100_000}\r\n",
    "many-headers": "GET /api/users HTTP/1.1\r\n" + "X-A: b\r\n" * 5000,
    "long-target": f"GET /api/memories?q={'a' * 100_000} HTTP/1.1\r\n",
    "many-query-fields": "GET /api/memories?" + "&".join(f"f{n}=1" for n in range(1000))
    + " HTTP/1.1\r\n",
}  # fmt: skip


@pytest.mark.parametrize("attack", MALFORMED)
def test_a_malformed_or_oversized_request_is_refused(daemon: Daemon, attack: str) -> None:
    before = state(daemon.data)
    status = raw_request(daemon, MALFORMED[attack], b'{"text": "x"}')
    assert 400 <= status < 500, status
    assert state(daemon.data) == before
    assert daemon.request("GET", "/api/users").status == 200  # and it carries on


def test_a_body_over_the_limit_is_refused(daemon: Daemon) -> None:
    before = state(daemon.data)
    reply = daemon.request("POST", "/api/memories", raw=b'{"text": "' + b"a" * 300_000 + b'"}')
    assert_refused(reply)
    assert state(daemon.data) == before


def test_a_chunked_body_over_the_limit_is_refused(daemon: Daemon) -> None:
    chunk = b"a" * 60_000
    body = b'{"text": "' + b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5))
    head = f"POST /api/memories HTTP/1.1\r\n{JSON}Transfer-Encoding: chunked\r\n"
    before = state(daemon.data)
    status = raw_request(daemon, head, body + b'"}' + b"0\r\n\r\n")
    assert 400 <= status < 500, status
    assert state(daemon.data) == before


# --- slow clients ----------------------------------------------------------------------------

SLOW = {
    "slow-head": b"GET /api/users HTTP/1.1\r\nHost: {host}\r\n",
    "slow-body": b"POST /api/memories HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100\r\n"
    b"Content-Type: application/json\r\nX-Secondself: 1\r\n\r\n" + b'{"text": "',
}
DROPPED_WITHIN_S = 30.0


@pytest.mark.parametrize("attack", SLOW)
def test_a_slow_client_is_dropped_and_holds_no_one_up(daemon: Daemon, attack: str) -> None:
    before = state(daemon.data)
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as slow:
        slow.sendall(SLOW[attack].replace(b"{host}", daemon.host.encode()))
        started = time.monotonic()
        assert daemon.request("GET", "/api/users").status == 200  # others are answered
        assert time.monotonic() - started < 5
        read_to_close(slow, DROPPED_WITHIN_S)  # it hangs up on the slow one
        assert time.monotonic() - started < DROPPED_WITHIN_S
    assert state(daemon.data) == before


def test_many_idle_connections_hold_no_one_up(daemon: Daemon) -> None:
    idle = [socket.create_connection(("127.0.0.1", daemon.port), timeout=5) for _ in range(50)]
    try:
        started = time.monotonic()
        assert daemon.request("GET", "/api/users").status == 200
        assert time.monotonic() - started < 5
    finally:
        for conn in idle:
            conn.close()


# --- hostile JSON ----------------------------------------------------------------------------

DEEP = 100_000
HOSTILE = {
    "deep-list": ("/api/memories", b"[" * DEEP + b"]" * DEEP),
    "deep-object": ("/api/memories", b'{"a": ' * DEEP + b"1" + b"}" * DEEP),
    "deep-text": ("/api/memories", b'{"text": ' + b"[" * DEEP + b"]" * DEEP + b"}"),
    "deep-correction": ("/api/correct", b'{"text": ' + b"[" * DEEP + b"]" * DEEP + b"}"),
    "lone-surrogate": ("/api/memories", b'{"text": "my pin is \\ud800"}'),
    "lone-low-surrogate": ("/api/memories", b'{"text": "my pin is \\udfff"}'),
    "reversed-pair": ("/api/memories", b'{"text": "my pin is \\udc00\\ud800"}'),
    "surrogate-correction": ("/api/correct", b'{"text": "Rex \\ud800"}'),
    "surrogate-visibility": ("/api/memories/1/visibility", b'{"visibility": "shared\\ud800"}'),
    "surrogate-bytes": ("/api/memories", b'{"text": "my pin is \xed\xa0\x80"}'),
    "not-utf8": ("/api/memories", b'{"text": "\xff\xfe"}'),
    "nul-text": ("/api/memories", b'{"text": "\\u0000\\u0000"}'),
    "nan-flag": ("/api/memories", b'{"text": "x", "shared": NaN}'),
    "infinite-text": ("/api/memories", b'{"text": Infinity}'),
    "huge-number": ("/api/memories", b'{"text": "x", "shared": 1e999999}'),
    "nan-visibility": ("/api/memories/1/visibility", b'{"visibility": NaN}'),
    "not-an-object": ("/api/memories", b'["text", "x"]'),
    "null": ("/api/memories", b"null"),
    "text-too-long": ("/api/memories", b'{"text": "' + b"word " * 6_500 + b'"}'),
}


@pytest.mark.parametrize("attack", HOSTILE)
def test_a_hostile_body_is_a_400_and_changes_nothing(daemon: Daemon, attack: str) -> None:
    path, body = HOSTILE[attack]
    before = state(daemon.data)
    reply = daemon.request("POST", path, raw=body)
    assert_refused(reply)
    assert state(daemon.data) == before


@pytest.mark.parametrize("query", ["q=%ED%A0%80", "q=%FF%FE", "persona=%ED%A0%80", "user=%ED%A0%80",
                                   "q=%00", "kind=%ED%A0%80"])  # fmt: skip
def test_a_query_that_is_not_text_is_no_fault(daemon: Daemon, query: str) -> None:
    reply = daemon.request("GET", f"/api/memories?{query}")
    assert reply.status == 200 or 400 <= reply.status < 500, reply.status
    reply.json()  # standard JSON either way


# --- regex templates in corrections ----------------------------------------------------------


@pytest.mark.parametrize("n", range(len(TEMPLATES)), ids=TEMPLATES)
def test_a_correction_is_text_never_a_template(daemon: Daemon, n: int) -> None:
    """Finding 8: `\\g<0>` saved "BiscuitBiscuit"; `\\9` was a 500."""
    said = TEMPLATES[n]
    reply = daemon.request("POST", f"/api/correct?persona={corrector(n)}", {"text": said})
    assert reply.status == 201, reply.body
    assert reply.json()["text"] == f"My dog is called {said}"


def test_after_all_that_the_log_holds_no_traceback(daemon: Daemon) -> None:
    log = daemon.log()
    assert daemon.alive()
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
