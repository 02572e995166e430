"""Backoff to a larger model behind any OpenAI-compatible chat endpoint.

What may leave the device is decided by the persona's `BackoffPolicy`, and
`backoff_messages` builds exactly what is sent under it. The client streams like the local
model (it is an `AnswerModel`), with a connect, a first-token and a total timeout and a
circuit breaker; every failure is a `CloudError` the conversation catches to answer locally.

Stdlib only (http.client): nothing to install, nothing opened at import. The API key is
held in an `ApiKey`, whose repr is redacted, and is never put in a log, an event or an error.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import socket
import ssl
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from secondself.answer.prompt import Source, Turn, build_messages
from secondself.core.bus import Bus
from secondself.core.clock import now
from secondself.core.config import CloudConfig, Config
from secondself.core.errors import ConfigError, SecondselfError, Stage, UserError
from secondself.core.events import BackoffUsed, CloudBreakerChanged, CloudFailed
from secondself.core.protocols import ChatMessage

Clock = Callable[[], float]

# Without memories the cloud is a general assistant: the local instructions speak of "facts
# the user told you", which it does not have.
CLOUD_INSTRUCTIONS = "Answer the question in one or two short sentences; they will be spoken."


# --- what may leave the device ----------------------------------------------------------


class BackoffPolicy(StrEnum):
    """A persona's rule for what may be sent when its personal score is low."""

    NEVER = "never"  # nothing leaves the device
    WITHOUT_MEMORIES = "without-memories"  # the question only
    WITH_MEMORIES = "with-memories"  # the question, the retrieved memories, recent turns

    @classmethod
    def parse(cls, text: str) -> BackoffPolicy:
        try:
            return cls(text)
        except ValueError:
            choices = ", ".join(p.value for p in cls)
            raise UserError(
                "bad-backoff", f"backoff policy must be one of {choices}; got {text!r}"
            ) from None


def backoff_messages(
    policy: BackoffPolicy | str,
    question: str,
    sources: Sequence[Source] = (),
    history: Sequence[Turn] = (),
    directives: str = "",
) -> list[ChatMessage]:
    """Exactly the messages sent to the cloud under `policy` ([] under `never`).

    `without-memories` sends no earlier turns and no persona directives either: past answers
    quote memories, and directives are the user's own words.
    """
    match BackoffPolicy(policy):
        case BackoffPolicy.NEVER:
            return []
        case BackoffPolicy.WITHOUT_MEMORIES:
            return [ChatMessage("system", CLOUD_INSTRUCTIONS), ChatMessage("user", question)]
        case BackoffPolicy.WITH_MEMORIES:
            return build_messages(question, sources, history, directives)


# --- the API key ------------------------------------------------------------------------


class ApiKey:
    """A secret whose repr and str are redacted, so a stray log line cannot print it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "ApiKey(<redacted>)"

    __str__ = __repr__


def load_api_key(config: CloudConfig, environ: Mapping[str, str] | None = None) -> ApiKey | None:
    """The key from `cloud.api_key_env`, else from `cloud.api_key_file`, else None (an
    endpoint that needs none, e.g. a server on the local network)."""
    environ = os.environ if environ is None else environ
    if config.api_key_env and (value := environ.get(config.api_key_env, "").strip()):
        return ApiKey(value)
    if not config.api_key_file:
        return None
    path = Path(config.api_key_file).expanduser()
    try:
        info = path.stat()
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            # Readable by others means the key is not a secret any more: refuse to use it.
            raise ConfigError(
                f"config key 'cloud.api_key_file': {path} must be readable by its owner only"
                f" (chmod 600 {path})"
            )
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"config key 'cloud.api_key_file': cannot read {path} ({exc.strerror})"
        ) from None
    if not value:
        raise ConfigError(f"config key 'cloud.api_key_file': {path} is empty")
    return ApiKey(value)


# --- errors -----------------------------------------------------------------------------


class CloudError(SecondselfError):
    """The cloud did not answer; `code` says why. The turn falls back to the local answer."""

    UNREACHABLE = "cloud-unreachable"  # refused, no route, DNS, TLS, connection lost
    TIMEOUT = "cloud-timeout"  # connect, first token or whole answer took too long
    HTTP = "cloud-http"  # a non-200 status other than auth
    AUTH = "cloud-auth"  # 401/403: the key is missing or wrong
    BAD_REPLY = "cloud-bad-reply"  # not the OpenAI chat format
    BREAKER_OPEN = "cloud-breaker-open"  # too many recent failures: not tried
    NOT_ALLOWED = "cloud-not-allowed"  # the persona's policy is `never`

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, Stage.ANSWER)


# --- circuit breaker --------------------------------------------------------------------


class BreakerState(StrEnum):
    CLOSED = "closed"  # requests go through
    OPEN = "open"  # failing: requests are refused at once, for `open_s`
    HALF_OPEN = "half-open"  # one probe request is in flight; its outcome decides


class CircuitBreaker:
    """After `failures` failures in a row, refuse requests for `open_s` seconds, then let one
    probe through: success closes the breaker, failure opens it again. Thread-safe."""

    def __init__(
        self,
        failures: int,
        open_s: float,
        clock: Clock = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        self.failures_to_open = failures
        self.open_s = open_s
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state

    def ready(self) -> bool:
        """Whether `allow()` would let a request through now (without taking the probe)."""
        with self._lock:
            if self._state is BreakerState.OPEN:
                return self._clock() - self._opened_at >= self.open_s
            return self._state is BreakerState.CLOSED

    def allow(self) -> bool:
        """Whether a request may go now (in the open state after `open_s`: the probe)."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return True
            if self._state is BreakerState.HALF_OPEN:
                return False  # one probe at a time
            if self._clock() - self._opened_at < self.open_s:
                return False
            changed = self._set(BreakerState.HALF_OPEN)
        self._notify(changed)
        return True

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            changed = self._set(BreakerState.CLOSED)
        self._notify(changed)

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            changed = None
            if self._state is BreakerState.HALF_OPEN or self._failures >= self.failures_to_open:
                self._opened_at = self._clock()
                changed = self._set(BreakerState.OPEN)
        self._notify(changed)

    def _set(self, state: BreakerState) -> BreakerState | None:
        if state is self._state:
            return None
        self._state = state
        return state

    def _notify(self, changed: BreakerState | None) -> None:
        if changed is not None and self._on_change is not None:
            self._on_change(changed)  # outside the lock: a subscriber may ask the state


# --- the client -------------------------------------------------------------------------


@runtime_checkable
class WithParts(Protocol):
    """A message whose content is more than text (a picture with its question)."""

    def parts(self) -> list[dict[str, Any]]:
        """Its OpenAI-style content parts, e.g. text then an `image_url`."""
        ...


def wire_content(message: ChatMessage) -> str | list[dict[str, Any]]:
    """A message's `content` as sent: its parts where it has them, else its text."""
    return message.parts() if isinstance(message, WithParts) else message.content


class CloudAnswerModel:
    """An OpenAI-compatible chat endpoint as an `AnswerModel`.

    `stream` is a generator: nothing is sent until it is iterated, and every failure before
    the first piece is raised by the first `next()`, so a caller can take the first piece
    before it commits to the cloud answer. Each call opens its own connection (thread-safe).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: ApiKey | None = None,
        *,
        connect_timeout_s: float = 3.0,
        first_token_timeout_s: float = 10.0,
        timeout_s: float = 30.0,
        temperature: float = 0.0,
        breaker_failures: int = 3,
        breaker_open_s: float = 60.0,
        breaker: CircuitBreaker | None = None,  # given: its state changes are not published
        bus: Bus | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        parts = urlsplit(base_url)
        # The URL itself is never quoted back: it may carry a password.
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("config key 'cloud.base_url' is not an http:// or https:// URL")
        if parts.username is not None or parts.password is not None:
            raise ConfigError(
                "config key 'cloud.base_url' must not hold a user or password:"
                " give the key in cloud.api_key_env or cloud.api_key_file"
            )
        self.name = model
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self.endpoint = f"{self._host}:{self._port}"
        self._path = parts.path.rstrip("/") + "/chat/completions"
        self._key = api_key
        self.connect_timeout_s = connect_timeout_s
        self.first_token_timeout_s = first_token_timeout_s
        self.timeout_s = timeout_s
        self.temperature = temperature
        self._bus = bus
        self._clock = clock
        self.breaker = breaker or CircuitBreaker(
            breaker_failures, breaker_open_s, clock, self._breaker_changed
        )

    @classmethod
    def from_config(
        cls,
        config: Config,
        bus: Bus | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> CloudAnswerModel | None:
        """The configured client, or None when `cloud.enabled` is false (the default: then
        nothing here ever opens a socket)."""
        cloud = config.cloud
        if not cloud.enabled:
            return None
        if not cloud.base_url or not cloud.model:
            missing = "cloud.base_url" if not cloud.base_url else "cloud.model"
            raise ConfigError(f"config key '{missing}' must be set when cloud.enabled is true")
        return cls(
            cloud.base_url,
            cloud.model,
            load_api_key(cloud, environ),
            connect_timeout_s=cloud.connect_timeout_s,
            first_token_timeout_s=cloud.first_token_timeout_s,
            timeout_s=cloud.timeout_s,
            temperature=config.llm.temperature,  # the local model's: as steady
            breaker_failures=cloud.breaker_failures,
            breaker_open_s=cloud.breaker_open_s,
            bus=bus,
        )

    def __repr__(self) -> str:
        return f"CloudAnswerModel({self.name!r} at {self.endpoint})"

    # -- answering -------------------------------------------------------------------------

    def backoff(
        self,
        policy: BackoffPolicy | str,
        question: str,
        sources: Sequence[Source] = (),
        history: Sequence[Turn] = (),
        directives: str = "",
        max_tokens: int = 96,
    ) -> Iterator[str]:
        """Stream the cloud's answer to what `policy` allows to be sent. Under `never` this
        raises CloudError at once; otherwise, like `stream`, nothing is sent until the first
        `next()`, and BackoffUsed (counts, never text) is published as the request goes."""
        policy = BackoffPolicy(policy)
        messages = backoff_messages(policy, question, sources, history, directives)
        if not messages:
            raise CloudError(CloudError.NOT_ALLOWED, "this persona never backs off to the cloud")
        sent = BackoffUsed(
            policy=policy.value,
            model=self.name,
            memories_sent=len(sources) if policy is BackoffPolicy.WITH_MEMORIES else 0,
            chars_sent=sum(len(m.content) for m in messages),
        )
        return self._stream(messages, max_tokens, sent)

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int) -> Iterator[str]:
        """Answer text pieces as the endpoint sends them (server-sent events)."""
        return self._stream(messages, max_tokens, None)

    def _stream(
        self, messages: Sequence[ChatMessage], max_tokens: int, sent: BackoffUsed | None
    ) -> Iterator[str]:
        with self._request(messages, max_tokens, stream=True, sent=sent) as exchange:
            got_text = False
            for chunk in exchange.events():
                piece = _delta(chunk)
                if piece:
                    got_text = True
                    exchange.first_token_received()
                    yield piece
            if not got_text:
                raise CloudError(CloudError.BAD_REPLY, f"{self.endpoint} sent no answer text")
            exchange.ok = True

    def complete(self, messages: Sequence[ChatMessage], max_tokens: int) -> str:
        """The whole answer in one reply (no streaming)."""
        with self._request(messages, max_tokens, stream=False, sent=None) as exchange:
            reply = exchange.json_body()
            try:
                text = reply["choices"][0]["message"]["content"]
            except (KeyError, IndexError, TypeError):
                raise CloudError(
                    CloudError.BAD_REPLY, f"{self.endpoint} sent no choices[0].message.content"
                ) from None
            if not isinstance(text, str) or not text.strip():
                raise CloudError(CloudError.BAD_REPLY, f"{self.endpoint} sent no answer text")
            exchange.ok = True
            return text.strip()

    def available(self) -> bool:
        """False while the breaker refuses requests (asking would fail at once)."""
        return self.breaker.ready()

    # -- plumbing --------------------------------------------------------------------------

    def _request(
        self,
        messages: Sequence[ChatMessage],
        max_tokens: int,
        stream: bool,
        sent: BackoffUsed | None,
    ) -> _Exchange:
        """An exchange, opened (connected, sent, status checked) when entered."""
        if not self.breaker.allow():
            error = CloudError(
                CloudError.BREAKER_OPEN,
                f"the cloud model failed {self.breaker.failures_to_open} times in a row;"
                f" not asking it for {self.breaker.open_s:g} s",
            )
            self._failed(error, 0.0)
            raise error
        body = {
            "model": self.name,
            "messages": [{"role": m.role, "content": wire_content(m)} for m in messages],
            "max_tokens": max_tokens,
            "temperature": self.temperature,
            "stream": stream,
        }
        return _Exchange(self, json.dumps(body).encode(), stream, sent)

    def _connection(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(
                self._host,
                self._port,
                timeout=self.connect_timeout_s,
                context=ssl.create_default_context(),
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self.connect_timeout_s)

    def _headers(self, stream: bool) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
            "User-Agent": "secondself",
        }
        if self._key is not None:
            headers["Authorization"] = f"Bearer {self._key.reveal()}"
        return headers

    def _redact(self, text: str) -> str:
        """An endpoint's own error text, made safe to show: short, and never the key."""
        text = " ".join(text.split())[:160]
        if self._key is not None and self._key.reveal():
            text = text.replace(self._key.reveal(), "<redacted>")
        return text

    def _failed(self, error: CloudError, seconds: float) -> None:
        if self._bus is not None:
            self._bus.publish(
                CloudFailed(
                    model=self.name, code=error.code, message=error.message, seconds=seconds
                )
            )

    def _breaker_changed(self, state: BreakerState) -> None:
        if self._bus is not None:
            self._bus.publish(CloudBreakerChanged(state=state.value))


def start_backoff(
    cloud: CloudAnswerModel | None,
    policy: BackoffPolicy | str,
    question: str,
    sources: Sequence[Source] = (),
    history: Sequence[Turn] = (),
    directives: str = "",
    max_tokens: int = 96,
) -> Iterator[str] | None:
    """The cloud's answer once its first piece has arrived, so the caller can commit to it;
    None when the cloud is off, the policy is `never`, or the cloud failed before its first
    word (CloudFailed is published): then answer locally. Blocking: call it in a worker
    thread. The iterator never raises CloudError: a failure midway ends the answer there."""
    if cloud is None or BackoffPolicy(policy) is BackoffPolicy.NEVER:
        return None
    pieces = cloud.backoff(policy, question, sources, history, directives, max_tokens)
    try:
        first = next(pieces)
    except CloudError:
        return None
    return _continue(first, pieces)


def _continue(first: str, pieces: Iterator[str]) -> Iterator[str]:
    yield first
    try:
        yield from pieces
    except CloudError:
        return  # cut short (CloudFailed was published): what was said stands


class _Exchange:
    """One request and its reply, under the three deadlines; records the outcome in the
    breaker (and a CloudFailed event) when it ends."""

    def __init__(
        self, client: CloudAnswerModel, body: bytes, stream: bool, sent: BackoffUsed | None
    ) -> None:
        self.client = client
        self.body = body
        self.stream = stream
        self.sent = sent
        self.start = client._clock()
        self.ok = False
        self._first_token = False
        self._conn: http.client.HTTPConnection | None = None
        self._sock: socket.socket | None = None
        self._reply: http.client.HTTPResponse | None = None

    def __enter__(self) -> _Exchange:
        try:
            self._open()
        except BaseException as exc:
            self.__exit__(type(exc), exc, None)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: Any, tb: Any) -> None:
        if self._reply is not None:
            self._reply.close()
        if self._conn is not None:
            self._conn.close()
        breaker = self.client.breaker
        # GeneratorExit: the caller stopped listening mid-answer; the endpoint was fine.
        if (self.ok and kind is None) or kind is GeneratorExit:
            breaker.success()
            return
        breaker.failure()
        if isinstance(error, CloudError):
            self.client._failed(error, self.client._clock() - self.start)

    # -- phases ----------------------------------------------------------------------------

    def _open(self) -> None:
        client = self.client
        where = client.endpoint
        conn = client._connection()
        self._conn = conn
        try:
            conn.connect()
        except TimeoutError:
            raise CloudError(
                CloudError.TIMEOUT,
                f"connecting to {where} took over {client.connect_timeout_s:g} s",
            ) from None
        except OSError as exc:
            raise CloudError(
                CloudError.UNREACHABLE, f"cannot reach {where}: {_os_reason(exc)}"
            ) from None
        self._sock = conn.sock
        if self.sent is not None and self.client._bus is not None:
            self.client._bus.publish(dataclasses.replace(self.sent, t=now()))  # sent now
        try:
            self._arm()
            conn.request("POST", client._path, body=self.body, headers=client._headers(self.stream))
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
        detail = f": {self.client._redact(detail)}" if detail else ""
        code = CloudError.AUTH if reply.status in (401, 403) else CloudError.HTTP
        raise CloudError(
            code, f"{self.client.endpoint} answered HTTP {reply.status} {reply.reason}{detail}"
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
        try:
            data = json.loads(payload)
        except ValueError:
            raise CloudError(
                CloudError.BAD_REPLY, f"{self.client.endpoint} sent a reply that is not JSON"
            ) from None
        if not isinstance(data, dict):
            raise CloudError(CloudError.BAD_REPLY, f"{self.client.endpoint} sent unexpected JSON")
        if isinstance(data.get("error"), dict):
            detail = self.client._redact(str(data["error"].get("message", "")))
            raise CloudError(CloudError.HTTP, f"{self.client.endpoint} failed: {detail}")
        return data

    def _deadline(self) -> float:
        client = self.client
        total = self.start + client.timeout_s
        if self._first_token:
            return total
        return min(total, self.start + client.first_token_timeout_s)

    def _arm(self) -> None:
        """Bound the next socket read by what is left before the current deadline."""
        left = self._deadline() - self.client._clock()
        if left <= 0:
            raise self._timeout()
        if self._sock is not None:
            self._sock.settimeout(left)

    def _check_deadline(self) -> None:
        if self.client._clock() > self._deadline():
            raise self._timeout()

    def _timeout(self) -> CloudError:
        client = self.client
        if self._first_token:
            what = f"the answer took over {client.timeout_s:g} s"
        else:
            limit = min(client.first_token_timeout_s, client.timeout_s)
            what = f"no answer within {limit:g} s"
        return CloudError(CloudError.TIMEOUT, f"{client.endpoint}: {what}")

    def _lost(self, exc: BaseException) -> CloudError:
        if isinstance(exc, http.client.HTTPException) and not isinstance(exc, ConnectionError):
            return CloudError(
                CloudError.BAD_REPLY, f"{self.client.endpoint} sent a broken HTTP reply"
            )
        return CloudError(
            CloudError.UNREACHABLE,
            f"connection to {self.client.endpoint} lost: {_os_reason(exc)}",
        )


def _delta(chunk: Mapping[str, Any]) -> str:
    """The text of one streamed chunk ("" for role-only, usage and final chunks)."""
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices:
        return ""
    first = choices[0]
    delta = first.get("delta") if isinstance(first, dict) else None
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else ""


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__
