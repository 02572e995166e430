"""The cloud model: any OpenAI-compatible chat endpoint as an `AnswerModel`.

It streams like the local model, under a connect, a first-token and a total timeout (one
`Exchange` per request) and behind a circuit breaker; every failure is a `CloudError` the
conversation catches to answer locally. HTTP is httpx2's, one client per request, with no
proxy, netrc or certificate setting taken from the environment; nothing is opened at
import. The API key goes in the Authorization header and nowhere else: never in a log, an
event or an error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import ssl
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import httpx2

from secondself.answer.api_key import ApiKey, load_api_key
from secondself.answer.backoff import BackoffPolicy, backoff_messages
from secondself.answer.breaker import BreakerState, CircuitBreaker, Clock
from secondself.answer.cloud_errors import CloudError
from secondself.answer.cloud_exchange import Exchange, Request, Timeouts
from secondself.answer.prompt import Source, Turn
from secondself.core.bus import Bus
from secondself.core.clock import now
from secondself.core.config import Config
from secondself.core.errors import ConfigError
from secondself.core.events import BackoffUsed, CloudBreakerChanged, CloudFailed, Event
from secondself.core.protocols import ChatMessage


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
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._origin = f"{parts.scheme}://{host}:{self._port}"
        self._path = parts.path.rstrip("/") + "/chat/completions"
        self._key = api_key
        self.timeouts = Timeouts(connect_timeout_s, first_token_timeout_s, timeout_s)
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
        with self._exchange(messages, max_tokens, stream=True, sent=sent) as exchange:
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
        with self._exchange(messages, max_tokens, stream=False, sent=None) as exchange:
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

    @contextlib.contextmanager
    def _exchange(
        self,
        messages: Sequence[ChatMessage],
        max_tokens: int,
        stream: bool,
        sent: BackoffUsed | None,
    ) -> Iterator[Exchange]:
        """An exchange, connected, sent and its status checked; when it ends its outcome
        goes to the breaker (and a failure to a CloudFailed event)."""
        self._admit()
        request = self._request(messages, max_tokens, stream)
        exchange = Exchange(request, self.timeouts, self._clock, self._redact)
        error: BaseException | None = None

        def on_sent() -> None:
            if sent is not None:
                self._publish(dataclasses.replace(sent, t=now()))  # sent now

        try:
            exchange.send(self._client(), on_sent)
            yield exchange
        except BaseException as exc:
            error = exc
            raise
        finally:
            exchange.close()
            self._record(exchange, error)

    def _admit(self) -> None:
        if self.breaker.allow():
            return
        error = CloudError(
            CloudError.BREAKER_OPEN,
            f"the cloud model failed {self.breaker.failures_to_open} times in a row;"
            f" not asking it for {self.breaker.open_s:g} s",
        )
        self._failed(error, 0.0)
        raise error

    def _record(self, exchange: Exchange, error: BaseException | None) -> None:
        # GeneratorExit: the caller stopped listening mid-answer; the endpoint was fine.
        if (exchange.ok and error is None) or isinstance(error, GeneratorExit):
            self.breaker.success()
            return
        self.breaker.failure()
        if isinstance(error, CloudError):
            self._failed(error, self._clock() - exchange.start)

    def _request(self, messages: Sequence[ChatMessage], max_tokens: int, stream: bool) -> Request:
        body = {
            "model": self.name,
            "messages": [{"role": m.role, "content": wire_content(m)} for m in messages],
            "max_tokens": max_tokens,
            "temperature": self.temperature,
            "stream": stream,
        }
        headers = self._headers(stream)
        return Request(self.endpoint, self._path, headers, json.dumps(body).encode(), self._origin)

    def _client(self) -> httpx2.Client:
        """A client for one exchange; its read timeout is a backstop, the exchange's
        watchdog keeps the deadlines."""
        return httpx2.Client(
            timeout=httpx2.Timeout(self.timeouts.total_s, connect=self.timeouts.connect_s),
            verify=ssl.create_default_context() if self._https else True,
            trust_env=False,  # no proxy, netrc or certificates from the environment
            follow_redirects=False,
        )

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
        self._publish(
            CloudFailed(model=self.name, code=error.code, message=error.message, seconds=seconds)
        )

    def _breaker_changed(self, state: BreakerState) -> None:
        self._publish(CloudBreakerChanged(state=state.value))

    def _publish(self, event: Event) -> None:
        if self._bus is not None:
            self._bus.publish(event)


def _delta(chunk: Mapping[str, Any]) -> str:
    """The text of one streamed chunk ("" for role-only, usage and final chunks)."""
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices:
        return ""
    first = choices[0]
    delta = first.get("delta") if isinstance(first, dict) else None
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else ""
