"""The cloud backoff client against small stdlib HTTP servers on loopback: what is sent under
each policy, the down / slow / error cases, the circuit breaker and the API key's secrecy.

(tests/answer/test_cloud_server.py runs it against a real OpenAI-compatible server.)
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from secondself.answer.api_key import ApiKey, load_api_key
from secondself.answer.backoff import BackoffPolicy, backoff_messages, start_backoff
from secondself.answer.breaker import BreakerState, CircuitBreaker
from secondself.answer.cloud_client import CloudAnswerModel
from secondself.answer.cloud_errors import CloudError
from secondself.answer.cloud_exchange import Request
from secondself.answer.prompt import Source, Turn
from secondself.core.bus import Bus
from secondself.core.config import CloudConfig, load_config
from secondself.core.errors import ConfigError, UserError
from secondself.core.events import (
    BackoffUsed,
    CloudBreakerChanged,
    CloudFailed,
    Event,
)
from secondself.core.protocols import ChatMessage

pytestmark = pytest.mark.unit

KEY = "sk-test-5ecr3t-a1b2c3d4e5"
QUESTION = "Where does my sister live?"
SOURCES = [
    Source(11, "my sister lives in Lyon", "2026-11-20", 0.82),
    Source(12, "my sister's cat is called Pistache", "2026-11-21", 0.41),
]
HISTORY = [Turn("What is my dog called?", "Your dog is called Biscuit.")]
DIRECTIVES = "Be warm; I am a nurse at Saint-Luc."
ASK = [ChatMessage("user", "What is 2+2?")]
WAIT_S = 10.0  # how long a "slow" handler stalls at most (the test ends it sooner)


# --- a loopback OpenAI-compatible stand-in ----------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Reply = Callable[["_Handler"], None]


class Loopback(ThreadingHTTPServer):
    """Records every request; answers with `reply` (a streamed answer unless changed)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[Received] = []
        self.reply: Reply = sse(["Your sister ", "lives in Lyon."])
        self.release = threading.Event()  # ends every stalled handler

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Loopback

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.received.append(Received(self.path, dict(self.headers), body))
        self.server.reply(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet test output

    def start(self, status: int, kind: str, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True


def sse(pieces: list[str]) -> Reply:
    def reply(h: _Handler) -> None:
        h.start(200, "text/event-stream")
        h.wfile.write(b": ping\n\n")  # a comment line, as sse-starlette sends
        for piece in pieces:
            chunk = {"choices": [{"index": 0, "delta": {"content": piece}}]}
            h.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        h.wfile.write(b"data: [DONE]\n\n")

    return reply


def whole(text: str) -> Reply:
    return raw(200, json.dumps({"choices": [{"message": {"content": text}}]}).encode())


def raw(status: int, body: bytes, kind: str = "application/json") -> Reply:
    def reply(h: _Handler) -> None:
        h.start(status, kind, len(body))
        h.wfile.write(body)

    return reply


def stall(h: _Handler) -> None:
    """Accept the request, then say nothing (until the test ends)."""
    h.server.release.wait(WAIT_S)


def stall_after_first_piece(h: _Handler) -> None:
    h.start(200, "text/event-stream")
    chunk = {"choices": [{"delta": {"content": "Your sister "}}]}
    h.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
    h.wfile.flush()
    h.server.release.wait(WAIT_S)


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    server = Loopback()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(WAIT_S)


@pytest.fixture
def events() -> Iterator[tuple[Bus, list[Event]]]:
    bus = Bus()
    seen: list[Event] = []
    bus.on(seen.append)
    yield bus, seen


def client(url: str, bus: Bus | None = None, key: str | None = KEY, **kw: Any) -> CloudAnswerModel:
    kw.setdefault("connect_timeout_s", 2.0)
    kw.setdefault("first_token_timeout_s", 5.0)
    kw.setdefault("timeout_s", 10.0)
    return CloudAnswerModel(url, "big-model", ApiKey(key) if key else None, bus=bus, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def fails(code: str, call: Callable[[], object]) -> CloudError:
    with pytest.raises(CloudError) as error:
        call()
    assert error.value.code == code, str(error.value)
    return error.value


# --- what leaves the device under each policy -------------------------------------------


def test_never_sends_nothing_and_opens_no_connection(loopback: Loopback) -> None:
    assert backoff_messages(BackoffPolicy.NEVER, QUESTION, SOURCES, HISTORY, DIRECTIVES) == []
    model = client(loopback.base_url)
    fails(CloudError.NOT_ALLOWED, lambda: model.backoff("never", QUESTION, SOURCES, HISTORY))
    assert loopback.received == []


def test_without_memories_sends_the_question_only(
    loopback: Loopback, events: tuple[Bus, list[Event]]
) -> None:
    bus, seen = events
    answer = "".join(
        client(loopback.base_url, bus).backoff(
            BackoffPolicy.WITHOUT_MEMORIES, QUESTION, SOURCES, HISTORY, DIRECTIVES
        )
    )
    assert answer == "Your sister lives in Lyon."
    (request,) = loopback.received
    sent = request.json()["messages"]
    assert [m["role"] for m in sent] == ["system", "user"]
    assert sent[-1]["content"] == QUESTION
    for private in ("Lyon", "Pistache", "Biscuit", "Saint-Luc", "nurse"):
        assert private.encode() not in request.body, private
    assert sent == [
        {"role": m.role, "content": m.content}
        for m in backoff_messages("without-memories", QUESTION, SOURCES, HISTORY, DIRECTIVES)
    ]
    used = [e for e in seen if isinstance(e, BackoffUsed)]
    assert [(u.policy, u.memories_sent) for u in used] == [("without-memories", 0)]


def test_with_memories_sends_the_memories_turns_and_directives(
    loopback: Loopback, events: tuple[Bus, list[Event]]
) -> None:
    bus, seen = events
    pieces = client(loopback.base_url, bus).backoff(
        "with-memories", QUESTION, SOURCES, HISTORY, DIRECTIVES, max_tokens=40
    )
    assert "".join(pieces) == "Your sister lives in Lyon."
    (request,) = loopback.received
    sent = request.json()
    assert request.path == "/v1/chat/completions"
    assert (sent["model"], sent["max_tokens"], sent["stream"]) == ("big-model", 40, True)
    text = json.dumps(sent["messages"])
    for private in ("Lyon", "Pistache", "Biscuit", "Saint-Luc"):
        assert private in text
    assert sent["messages"][-1] == {"role": "user", "content": QUESTION}
    used = [e for e in seen if isinstance(e, BackoffUsed)]
    assert [(u.policy, u.memories_sent) for u in used] == [("with-memories", 2)]
    assert "Lyon" not in json.dumps([e.to_dict() for e in seen])  # events carry counts only


def test_policy_names_are_checked() -> None:
    assert BackoffPolicy.parse("with-memories") is BackoffPolicy.WITH_MEMORIES
    with pytest.raises(UserError, match="never, without-memories, with-memories"):
        BackoffPolicy.parse("always")


def test_nothing_is_sent_until_the_stream_is_read(loopback: Loopback) -> None:
    pieces = client(loopback.base_url).backoff("with-memories", QUESTION, SOURCES)
    assert loopback.received == []
    assert next(iter(pieces)) == "Your sister "
    assert len(loopback.received) == 1


def test_non_streaming_reply(loopback: Loopback) -> None:
    loopback.reply = whole(" It is 4. ")
    assert client(loopback.base_url).complete(ASK, 8) == "It is 4."
    assert loopback.received[0].json()["stream"] is False


# --- down, slow and broken endpoints ----------------------------------------------------


def test_down_endpoint_is_unreachable() -> None:
    model = client(f"http://127.0.0.1:{free_port()}/v1")
    error = fails(CloudError.UNREACHABLE, lambda: list(model.stream(ASK, 8)))
    assert "connection refused" in str(error)


def test_connect_timeout() -> None:
    # A listening socket whose backlog is full lets no further connection complete.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        held: list[socket.socket] = []
        try:
            for _ in range(8):
                probe = socket.socket()
                held.append(probe)
                probe.settimeout(0.3)
                try:
                    probe.connect(("127.0.0.1", port))
                except TimeoutError:
                    break
            model = client(f"http://127.0.0.1:{port}", connect_timeout_s=0.3)
            error = fails(CloudError.TIMEOUT, lambda: list(model.stream(ASK, 8)))
            assert "connecting" in str(error)
        finally:
            for s in held:
                s.close()


def test_no_first_token_in_time(loopback: Loopback, events: tuple[Bus, list[Event]]) -> None:
    bus, seen = events
    loopback.reply = stall
    model = client(loopback.base_url, bus, first_token_timeout_s=0.3)
    error = fails(CloudError.TIMEOUT, lambda: list(model.stream(ASK, 8)))
    assert "no answer within 0.3 s" in str(error)
    failed = [e for e in seen if isinstance(e, CloudFailed)]
    assert [f.code for f in failed] == [CloudError.TIMEOUT]


def test_answer_that_stops_midway_times_out_after_its_first_piece(loopback: Loopback) -> None:
    loopback.reply = stall_after_first_piece
    pieces = iter(
        client(loopback.base_url, first_token_timeout_s=5.0, timeout_s=0.5).stream(ASK, 8)
    )
    assert next(pieces) == "Your sister "
    error = fails(CloudError.TIMEOUT, lambda: next(pieces))
    assert "the answer took over 0.5 s" in str(error)


def test_a_stalled_answer_ends_at_its_deadline_not_a_read_timeout_later(
    loopback: Loopback,
) -> None:
    def late_first_piece_then_silence(h: _Handler) -> None:
        h.start(200, "text/event-stream")
        h.wfile.flush()
        h.server.release.wait(0.4)
        chunk = {"choices": [{"delta": {"content": "Your sister "}}]}
        h.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        h.wfile.flush()
        h.server.release.wait(WAIT_S)

    loopback.reply = late_first_piece_then_silence
    model = client(loopback.base_url, first_token_timeout_s=1.0, timeout_s=1.0)
    pieces = iter(model.stream(ASK, 8))
    started = time.monotonic()
    assert next(pieces) == "Your sister "
    error = fails(CloudError.TIMEOUT, lambda: next(pieces))
    assert "the answer took over 1 s" in str(error)
    # The whole answer's second, from the request: not a further second of waiting to read.
    assert 0.5 < time.monotonic() - started < 1.3


@pytest.mark.parametrize(
    ("reply", "code", "says"),
    [
        (raw(500, b'{"error": {"message": "model overloaded"}}'), "cloud-http", "HTTP 500"),
        (raw(500, b"<html>oops</html>", "text/html"), "cloud-http", "HTTP 500"),
        (raw(401, b'{"error": {"message": "bad key"}}'), "cloud-auth", "HTTP 401"),
        (raw(404, b'{"detail": "Not Found"}'), "cloud-http", "Not Found"),
        (raw(200, b"data: {broken\n\n", "text/event-stream"), "cloud-bad-reply", "not JSON"),
        (raw(200, b"data: [DONE]\n\n", "text/event-stream"), "cloud-bad-reply", "no answer"),
        (
            raw(200, b'data: {"error": {"message": "context too long"}}\n\n', "text/event-stream"),
            "cloud-http",
            "context too long",
        ),
        (raw(200, b"HTTP/1.1 garbage", "text/plain"), "cloud-bad-reply", ""),
    ],
)
def test_error_replies(loopback: Loopback, reply: Reply, code: str, says: str) -> None:
    loopback.reply = reply
    error = fails(code, lambda: list(client(loopback.base_url).stream(ASK, 8)))
    assert says in str(error)


def test_malformed_non_streaming_reply(loopback: Loopback) -> None:
    loopback.reply = raw(200, b"{not json")
    fails(CloudError.BAD_REPLY, lambda: client(loopback.base_url).complete(ASK, 8))
    loopback.reply = raw(200, b'{"choices": []}')
    fails(CloudError.BAD_REPLY, lambda: client(loopback.base_url).complete(ASK, 8))


def test_broken_connection_is_unreachable(loopback: Loopback) -> None:
    def hang_up(h: _Handler) -> None:
        h.close_connection = True  # no status line at all

    loopback.reply = hang_up
    fails(CloudError.UNREACHABLE, lambda: list(client(loopback.base_url).stream(ASK, 8)))


def test_stopping_early_is_not_a_failure(loopback: Loopback) -> None:
    model = client(loopback.base_url)
    for _ in range(5):
        pieces = model.stream(ASK, 8)
        next(iter(pieces))
        pieces.close()  # type: ignore[attr-defined]
    assert model.breaker.state is BreakerState.CLOSED


# --- start_backoff: the conversation's "cloud, else local" -----------------------------


def test_start_backoff_commits_only_after_the_first_word(
    loopback: Loopback, events: tuple[Bus, list[Event]]
) -> None:
    bus, seen = events
    model = client(loopback.base_url, bus, first_token_timeout_s=0.3, timeout_s=0.6)
    started = start_backoff(model, "with-memories", QUESTION, SOURCES)
    assert started is not None and "".join(started) == "Your sister lives in Lyon."
    # Off, `never`, down or silent: None, so the local answer is given.
    assert start_backoff(None, "with-memories", QUESTION, SOURCES) is None
    assert start_backoff(model, "never", QUESTION, SOURCES) is None
    assert len(loopback.received) == 1
    dead = client(f"http://127.0.0.1:{free_port()}/v1", bus)
    assert start_backoff(dead, "without-memories", QUESTION) is None
    loopback.reply = stall
    assert start_backoff(model, "without-memories", QUESTION) is None
    # Cut off midway: what came stands, and the iterator just ends.
    loopback.reply = stall_after_first_piece
    started = start_backoff(model, "without-memories", QUESTION)
    assert started is not None and list(started) == ["Your sister "]
    codes = [e.code for e in seen if isinstance(e, CloudFailed)]
    assert codes == [CloudError.UNREACHABLE, CloudError.TIMEOUT, CloudError.TIMEOUT]


# --- circuit breaker --------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_breaker_states() -> None:
    clock = FakeClock()
    changes: list[BreakerState] = []
    breaker = CircuitBreaker(2, 30.0, clock, changes.append)
    assert breaker.allow()
    breaker.failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow() and not breaker.ready()
    clock.t += 30.0
    assert breaker.ready()
    assert breaker.allow()  # the probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # one probe at a time
    breaker.failure()  # the probe failed: open again, for another 30 s
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock.t += 30.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state is BreakerState.CLOSED
    assert changes == ["open", "half-open", "open", "half-open", "closed"]


def test_breaker_opens_on_failures_and_recovers(
    loopback: Loopback, events: tuple[Bus, list[Event]]
) -> None:
    bus, seen = events
    clock = FakeClock()
    breaker = CircuitBreaker(3, 60.0, clock, lambda s: bus.publish(CloudBreakerChanged(state=s)))
    model = client(loopback.base_url, bus, breaker=breaker)
    loopback.reply = raw(500, b"{}")
    for _ in range(3):
        fails(CloudError.HTTP, lambda: list(model.stream(ASK, 8)))
    assert model.breaker.state is BreakerState.OPEN and not model.available()
    # Open: refused at once, without a request.
    fails(CloudError.BREAKER_OPEN, lambda: list(model.stream(ASK, 8)))
    assert len(loopback.received) == 3
    # After open_s one probe goes; the endpoint is back, so the breaker closes.
    loopback.reply = sse(["It is 4."])
    clock.t += 60.0
    assert model.available()
    assert "".join(model.stream(ASK, 8)) == "It is 4."
    assert model.breaker.state is BreakerState.CLOSED
    assert len(loopback.received) == 4
    states = [e.state for e in seen if isinstance(e, CloudBreakerChanged)]
    assert states == ["open", "half-open", "closed"]
    codes = [e.code for e in seen if isinstance(e, CloudFailed)]
    assert codes == [CloudError.HTTP] * 3 + [CloudError.BREAKER_OPEN]


# --- the API key ------------------------------------------------------------------------


def test_key_goes_in_the_header_and_nowhere_else(
    loopback: Loopback, events: tuple[Bus, list[Event]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bus, seen = events
    model = client(loopback.base_url, bus)
    list(model.stream(ASK, 8))
    assert loopback.received[0].headers["Authorization"] == f"Bearer {KEY}"
    assert KEY.encode() not in loopback.received[0].body
    # An endpoint that echoes the key back in its error, a dead one and a slow one.
    messages: list[str] = []
    loopback.reply = raw(401, json.dumps({"error": {"message": f"Incorrect key {KEY}"}}).encode())
    messages.append(repr(fails(CloudError.AUTH, lambda: list(model.stream(ASK, 8)))))
    dead = client(f"http://127.0.0.1:{free_port()}/v1", bus)
    messages.append(str(fails(CloudError.UNREACHABLE, lambda: list(dead.stream(ASK, 8)))))
    loopback.reply = stall
    slow = client(loopback.base_url, bus, first_token_timeout_s=0.2)
    messages.append(str(fails(CloudError.TIMEOUT, lambda: slow.complete(ASK, 8))))
    assert "<redacted>" in messages[0]
    shown = [*messages, repr(model), repr(model.__dict__), caplog.text]
    shown += [json.dumps(e.to_dict()) for e in seen]
    assert not [s for s in shown if KEY in s]
    assert repr(ApiKey(KEY)) == str(ApiKey(KEY)) == "ApiKey(<redacted>)"


def test_no_key_sends_no_authorization(loopback: Loopback) -> None:
    list(client(loopback.base_url, key=None).stream(ASK, 8))
    assert "Authorization" not in loopback.received[0].headers


def test_a_request_in_a_log_line_shows_no_key() -> None:
    request = Request(
        "127.0.0.1:9", "/v1/chat/completions", {"Authorization": f"Bearer {KEY}"}, b""
    )
    assert KEY not in repr(request) and "127.0.0.1:9" in repr(request)


def test_key_from_environment_then_file(tmp_path: Path) -> None:
    keyfile = tmp_path / "key"
    keyfile.write_text(f"{KEY}\n")
    os.chmod(keyfile, 0o600)
    config = CloudConfig(api_key_env="MY_KEY", api_key_file=str(keyfile))
    from_env = load_api_key(config, {"MY_KEY": "sk-env"})
    from_file = load_api_key(config, {})
    assert from_env is not None and from_env.reveal() == "sk-env"
    assert from_file is not None and from_file.reveal() == KEY
    assert load_api_key(CloudConfig(api_key_env="MY_KEY"), {}) is None


@pytest.mark.parametrize(
    ("mode", "text", "message"),
    [
        (0o644, KEY, "must be readable by its owner only (chmod 600"),
        (0o640, KEY, "must be readable by its owner only"),
        (0o600, "  \n", "is empty"),
        (None, KEY, "cannot read"),
    ],
)
def test_bad_key_file_is_a_clear_error(
    tmp_path: Path, mode: int | None, text: str, message: str
) -> None:
    keyfile = tmp_path / "key"
    if mode is not None:
        keyfile.write_text(text)
        os.chmod(keyfile, mode)
    with pytest.raises(ConfigError) as error:
        load_api_key(CloudConfig(api_key_file=str(keyfile)), {})
    assert message in str(error.value) and "cloud.api_key_file" in str(error.value)
    assert KEY not in str(error.value)


# --- configuration ----------------------------------------------------------------------


def test_off_by_default_so_nothing_is_built(tmp_path: Path) -> None:
    config = load_config(None, environ={"SECONDSELF_API_KEY": KEY}, system_files=[])
    assert config.cloud.enabled is False
    assert CloudAnswerModel.from_config(config) is None


NO_SOCKETS = """
import sys
opened = []
sys.addaudithook(lambda event, args: opened.append(event) if event.startswith("socket.") else None)
from secondself.answer.cloud_client import CloudAnswerModel
from secondself.core.config import load_config
assert CloudAnswerModel.from_config(load_config(None, system_files=[])) is None
assert not opened, opened
"""


def test_default_config_opens_no_socket() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECONDSELF_")}
    env["SECONDSELF_API_KEY"] = KEY
    done = subprocess.run(
        [sys.executable, "-c", NO_SOCKETS], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_enabled_config_builds_the_client(tmp_path: Path, loopback: Loopback) -> None:
    extra = tmp_path / "c.toml"
    extra.write_text(
        f'[cloud]\nenabled = true\nbase_url = "{loopback.base_url}"\nmodel = "m"\n'
        "breaker_failures = 1\nbreaker_open_s = 5.0\n"
    )
    config = load_config(extra, environ={}, system_files=[])
    model = CloudAnswerModel.from_config(config, environ={"SECONDSELF_API_KEY": KEY})
    assert model is not None
    assert "".join(model.stream(ASK, 8)) == "Your sister lives in Lyon."
    assert loopback.received[0].headers["Authorization"] == f"Bearer {KEY}"
    assert (model.breaker.failures_to_open, model.breaker.open_s) == (1, 5.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[cloud]\nbase_url = "ftp://x"\n', "'cloud.base_url' must be an http:// or https:// URL"),
        ("[cloud]\ntimeout_s = 0\n", "'cloud.timeout_s' must be between"),
        ("[cloud]\nbreaker_failures = 0\n", "'cloud.breaker_failures' must be between"),
        ("[llm]\nram_budget_mb = -1\n", "'llm.ram_budget_mb' must be between"),
        ("[cloud]\nenabled = true\n", "'cloud.base_url' must be set"),
        ('[cloud]\nenabled = true\nbase_url = "http://h"\n', "'cloud.model' must be set"),
    ],
)
def test_bad_cloud_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    extra = tmp_path / "c.toml"
    extra.write_text(text)
    with pytest.raises(ConfigError) as error:
        CloudAnswerModel.from_config(load_config(extra, environ={}, system_files=[]))
    assert message in str(error.value)


def test_a_password_in_the_url_is_refused_and_not_shown() -> None:
    with pytest.raises(ConfigError, match="must not hold a user or password") as error:
        CloudAnswerModel(f"https://user:{KEY}@127.0.0.1/v1", "m")
    assert KEY not in str(error.value)
    with pytest.raises(ConfigError) as error:
        CloudAnswerModel(f"ftp://user:{KEY}@127.0.0.1/v1", "m")
    assert KEY not in str(error.value)
