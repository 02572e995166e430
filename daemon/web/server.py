"""Starting the page: the API over the household's stores, on the metrics port; with the
daemon's conversations, the chat APIs too; with a certificate, over TLS."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from secondself.core.bus import Bus
from secondself.core.config import Config
from secondself.core.protocols import Embedder
from secondself.household.users import Household
from secondself.memory.store import MemoryStore
from secondself.web.access import Access
from secondself.web.api import WebApi
from secondself.web.callers import Answers, owner
from secondself.web.chat import Chat, Converse
from secondself.web.guard import Hosts
from secondself.web.limits import DEFAULT_LIMITS, Limits
from secondself.web.mcp_http import McpEndpoint
from secondself.web.serving import WebServer, serve
from secondself.web.site import build_app
from secondself.web.stores import UserStores
from secondself.web.tokens import TokenBook

if TYPE_CHECKING:  # cryptography is imported only to serve TLS
    from secondself.web.tls import Certificate

log = logging.getLogger(__name__)


async def serve_metrics(
    render_metrics: Callable[[], str],
    host: str,
    port: int,
    limits: Limits = DEFAULT_LIMITS,
    certificate: Certificate | None = None,
) -> WebServer:
    """Serve /metrics alone, to our own host names (no token: no page, no API)."""
    app = build_app(render_metrics, Hosts.for_host(host), limits=limits)
    return await serve(app, host, port, limits, certificate)


async def serve_web(
    render_metrics: Callable[[], str],
    host: str,
    port: int,
    stores: UserStores,
    bus: Bus,
    default_user: str,
    token: str,
    limits: Limits = DEFAULT_LIMITS,
    *,
    book: TokenBook | None = None,
    converse: Converse | None = None,
    certificate: Certificate | None = None,
    proxied: bool = False,
    answers: Answers | None = None,
) -> WebServer:
    """Serve /metrics, the page, its API and the MCP endpoint on host:port; the page and
    the API only to requests with `token` or, given a `book`, one of its scoped tokens (MCP:
    the install's token only) (OSError when the port is taken). With `converse` (the
    daemon's conversations) the chat APIs answer too; MCP's `ask` with `answers`. Closing
    the server ends the live streams and MCP exchanges, waits for the page's requests in
    flight and closes the stores it opened and the book."""
    api = WebApi(stores, bus, default_user)
    chat = Chat(converse, api) if converse is not None else None
    mcp = McpEndpoint(stores, api.run, owner(default_user), answers)
    hosts = Hosts.for_host(host)
    access = Access(token, book)
    app = build_app(render_metrics, hosts, api, access, limits, chat, proxied, mcp)
    try:
        server = await serve(app, host, port, limits, certificate)
    except OSError:
        api.close()
        raise
    server.on_closing(api.live.close)
    server.on_closing(mcp.close)
    server.on_close(lambda: _close(api, stores, book))
    return server


def _close(api: WebApi, stores: UserStores, book: TokenBook | None) -> None:
    if book is not None:
        book.close()
    if api.close():
        stores.close()
    else:  # closing a store under a running request would fail it midway; the exit ends both
        log.warning("a page request was still running when the page closed: its store stays open")


async def serve_daemon_page(
    render_metrics: Callable[[], str],
    config: Config,
    household: Household,
    store_of: Callable[[str], MemoryStore],
    embedder: Embedder,
    bus: Bus,
    default_user: str,
    token: str | None,
    *,
    book: TokenBook | None = None,
    converse: Converse | None = None,
    certificate: Certificate | None = None,
    answers: Answers | None = None,
) -> WebServer:
    """The running daemon's page and MCP endpoint on web.host:web.port. `store_of` gives
    the daemon's own store of a user (opened once, closed by the daemon): the page opens
    none of its own. With no token (its file could not be made) only /metrics is served,
    to our own names. `answers`: MCP's `ask` (the daemon's text conversations)."""
    web = config.web
    if token is None:
        return await serve_metrics(render_metrics, web.host, web.port, certificate=certificate)
    stores = UserStores(household, embedder, bus, borrow=store_of)
    return await serve_web(
        render_metrics, web.host, web.port, stores, bus, default_user, token,
        book=book, converse=converse, certificate=certificate, proxied=web.behind_proxy,
        answers=answers,
    )  # fmt: skip
