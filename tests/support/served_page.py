"""The daemon's page on a loopback port, with its token book (scoped tokens), for tests that
call it as other programs do: with a bearer token, over HTTP or TLS."""

from __future__ import annotations

import contextlib
import http.client
import json
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secondself.core.bus import Bus
from secondself.core.protocols import Embedder
from secondself.household.personas import Catalog, Defaults
from secondself.household.users import Household
from secondself.memory.store import MemoryStore
from secondself.service.app import App
from secondself.service.metrics import Metrics
from secondself.service.session import TextSession, text_session
from secondself.web import access
from secondself.web.chat import Converse
from secondself.web.server import serve_web
from secondself.web.serving import WebServer
from secondself.web.stores import UserStores
from secondself.web.tls import Certificate
from secondself.web.tokens import TokenBook
from tests.support.loop_thread import LoopThread

DEFAULTS = Defaults("hey_jarvis", "en_US-joe-medium", "qwen2.5-0.5b-instruct")
CATALOG = Catalog(
    wake_words=frozenset({"hey_jarvis", "alexa"}),
    voices=frozenset({"en_US-joe-medium"}),
    models=frozenset({"qwen2.5-0.5b-instruct"}),
)


class Clock:
    """Wall-clock seconds that a test moves on (`TokenBook`'s clock: expiry)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Reply:
    status: int
    body: bytes
    headers: http.client.HTTPMessage

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ServedPage:
    server: WebServer
    home: Path
    household: Household
    stores: UserStores
    book: TokenBook
    clock: Clock
    owner_token: str = field(repr=False)
    runner: LoopThread = field(repr=False)
    tls: ssl.SSLContext | None = None  # a client's context that trusts the page's certificate

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def call(
        self,
        method: str,
        path: str,
        token: str | None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """One request as a program sends it: the token as a bearer header (None: none)."""
        sent = {"Host": f"127.0.0.1:{self.port}"}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            sent["Content-Type"] = "application/json"
        if method in ("POST", "DELETE") and path.startswith("/api/") and "chat" not in path:
            sent["X-Secondself"] = "1"  # as the page sends it
        sent.update(headers or {})
        conn: http.client.HTTPConnection
        if self.tls is not None:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=60, context=self.tls)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            return Reply(response.status, response.read(), response.msg)
        finally:
            conn.close()

    def close(self) -> None:
        self.runner.loop.call_soon_threadsafe(self.server.close)
        self.runner.run(self.server.wait_closed())
        self.runner.close()


def serve_page(
    home: Path,
    embedder: Embedder,
    converse: Converse | None = None,
    certificate: Certificate | None = None,
    household: Household | None = None,
    borrow: Callable[[str], MemoryStore] | None = None,
) -> ServedPage:
    """The page as the daemon serves it: the install's token made, the token book open
    (on a clock the test moves). `borrow`: the daemon's own stores, as its page uses them."""
    household = household or Household(home, DEFAULTS, CATALOG)
    clock = Clock()
    bus = Bus()
    stores = UserStores(household, embedder, bus, borrow=borrow)
    owner_token = access.load_or_create(home)
    book = TokenBook.open(home, clock)
    runner = LoopThread()
    server = runner.run(
        serve_web(
            Metrics().render, "127.0.0.1", 0, stores, bus, "default", owner_token,
            book=book, converse=converse, certificate=certificate,
        )
    )  # fmt: skip
    context = None
    if certificate is not None:
        context = ssl.create_default_context(cafile=str(certificate.cert))
    return ServedPage(server, home, household, stores, book, clock, owner_token, runner, context)


@contextlib.contextmanager
def daemon_page(home: Path, config_file: Path) -> Iterator[tuple[TextSession, ServedPage]]:
    """A text session (the real models of `config_file`) and the page serving its
    `Conversations` as the running daemon's does: the chat APIs answer with them."""
    app = App(config_file=config_file, home_override=str(home))
    with text_session(app) as session:
        conversations = session.conversations
        page = serve_page(
            home, session.embedder, converse=conversations.for_text,
            household=conversations.household, borrow=conversations.store,
        )  # fmt: skip
        try:
            yield session, page
        finally:
            page.close()
