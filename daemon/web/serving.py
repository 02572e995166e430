"""Serving an ASGI app with uvicorn inside the caller's own event loop: no other process,
no signal handlers (the daemon owns SIGTERM and SIGHUP), no log lines of its own but errors
(a traceback of a bug in a route among them).

We bind the sockets ourselves, so a port in use is an OSError to the caller (uvicorn would
exit the process). uvicorn times out a connection idle between requests; `_Protocol` also
gives each request's head that long, so a client that never finishes one is let go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from secondself.web.limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:  # cryptography is imported only to serve TLS
    from secondself.web.tls import Certificate

log = logging.getLogger(__name__)

GRACE_S = 1  # closing: how long answers in flight may take before they are cancelled


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol, with a deadline for each request's head."""

    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def on_response_complete(self) -> None:
        self._await_head()  # first: a pipelined request starts (and is timed) in super()
        super().on_response_complete()

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's head arrived whole
            self._stop_waiting()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._stop_waiting()
        timeout = self.config.timeout_keep_alive
        self._head_deadline = self.loop.call_later(timeout, self._head_too_slow)

    def _stop_waiting(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        answering = self.cycle is not None and not self.cycle.response_complete
        if not answering and not self.transport.is_closing():
            self.transport.close()


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the daemon's own handlers stay: it decides when to stop


class WebServer:
    """An app served on its listening sockets, until `close()`."""

    def __init__(
        self,
        app: ASGIApp,
        sockets: list[socket.socket],
        limits: Limits,
        certificate: Certificate | None = None,
    ) -> None:
        self.app = app
        self._sockets = sockets
        self.tls = certificate is not None
        config = uvicorn.Config(
            app,
            http=_Protocol,
            ws="none",
            lifespan="off",
            log_config=None,
            log_level="error",  # not a line for each malformed request a client sends
            access_log=False,
            server_header=False,
            proxy_headers=False,  # no client names its own address or scheme
            timeout_keep_alive=limits.read_timeout_s,
            timeout_graceful_shutdown=GRACE_S,
            h11_max_incomplete_event_size=limits.head_bytes,
            ssl_certfile=None if certificate is None else str(certificate.cert),
            ssl_keyfile=None if certificate is None else str(certificate.key),
        )
        self._server = _Server(config)
        self._serving: asyncio.Task[None] | None = None
        self._on_closing: list[Callable[[], None]] = []
        self._on_close: list[Callable[[], None]] = []

    @property
    def port(self) -> int:
        return int(self._sockets[0].getsockname()[1])

    async def start(self) -> WebServer:
        self._serving = asyncio.create_task(self._server.serve(sockets=self._sockets))
        self._serving.add_done_callback(lambda _: self._closed())
        while not self._server.started:  # uvicorn says so only by this flag
            if self._serving.done():
                self._serving.result()  # its error, if it failed
                raise RuntimeError("the web server stopped as it started")
            await asyncio.sleep(0.005)
        return self

    def on_closing(self, callback: Callable[[], None]) -> None:
        """`callback()` as `close()` begins (to end answers that would go on for ever)."""
        self._on_closing.append(callback)

    def on_close(self, callback: Callable[[], None]) -> None:
        """`callback()` once the server has stopped (answers in flight done or cancelled)."""
        self._on_close.append(callback)

    def close(self) -> None:
        """Stop listening and answering; `wait_closed()` waits until it has."""
        self._server.should_exit = True
        _run_all(self._on_closing)

    async def wait_closed(self) -> None:
        if self._serving is not None:
            await asyncio.wait({self._serving})

    def _closed(self) -> None:
        for sock in self._sockets:
            sock.close()
        _run_all(self._on_close)


def _run_all(callbacks: list[Callable[[], None]]) -> None:
    """Each callback once, in order; one that fails is logged and the rest still run."""
    while callbacks:
        callback = callbacks.pop(0)
        try:
            callback()
        except Exception:
            log.exception("closing the web server: %r failed", callback)


def listen(host: str, port: int) -> list[socket.socket]:
    """Listening TCP sockets on every address host:port names, as asyncio would bind them
    ("" is every address, IPv4 and IPv6; "localhost" both loopbacks)."""
    found = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, _, _, _, address in found:
            sockets.append(socket.create_server(address, family=family))
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


async def serve(
    app: ASGIApp,
    host: str,
    port: int,
    limits: Limits = DEFAULT_LIMITS,
    certificate: Certificate | None = None,
) -> WebServer:
    """Serve `app` on host:port from this event loop, with TLS given a `certificate`
    (OSError when the port is taken)."""
    sockets = await asyncio.to_thread(listen, host, port)  # a name may need a DNS look-up
    try:
        return await WebServer(app, sockets, limits, certificate).start()
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
