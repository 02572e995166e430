"""Starting the page: the API over the household's stores, on the metrics port."""

from __future__ import annotations

import logging
from collections.abc import Callable

from secondself.core.bus import Bus
from secondself.core.config import Config
from secondself.core.protocols import Embedder
from secondself.household.users import Household
from secondself.memory.store import MemoryStore
from secondself.web.access import Access
from secondself.web.api import WebApi
from secondself.web.callers import Answers, owner
from secondself.web.guard import Hosts
from secondself.web.limits import DEFAULT_LIMITS, Limits
from secondself.web.mcp_http import McpEndpoint
from secondself.web.serving import WebServer, serve
from secondself.web.site import build_app
from secondself.web.stores import UserStores

log = logging.getLogger(__name__)


async def serve_metrics(
    render_metrics: Callable[[], str], host: str, port: int, limits: Limits = DEFAULT_LIMITS
) -> WebServer:
    """Serve /metrics alone, to our own host names (no token: no page, no API)."""
    return await serve(build_app(render_metrics, Hosts.for_host(host), limits=limits), host, port)


async def serve_web(
    render_metrics: Callable[[], str],
    host: str,
    port: int,
    stores: UserStores,
    bus: Bus,
    default_user: str,
    token: str,
    limits: Limits = DEFAULT_LIMITS,
    answers: Answers | None = None,
) -> WebServer:
    """Serve /metrics, the page, its API and the MCP endpoint on host:port; all but
    /metrics only to requests with `token` (OSError when the port is taken); MCP's `ask`
    with `answers`. Closing the server ends the live streams and MCP exchanges, waits for
    the page's requests in flight and closes the stores it opened."""
    api = WebApi(stores, bus, default_user)
    mcp = McpEndpoint(stores, api.run, owner(default_user), answers)
    app = build_app(render_metrics, Hosts.for_host(host), api, Access(token), limits, mcp)
    try:
        server = await serve(app, host, port, limits)
    except OSError:
        api.close()
        raise
    server.on_closing(api.live.close)
    server.on_closing(mcp.close)
    server.on_close(lambda: _close(api, stores))
    return server


def _close(api: WebApi, stores: UserStores) -> None:
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
    answers: Answers | None = None,
) -> WebServer:
    """The running daemon's page and MCP endpoint on web.host:web.port. `store_of` gives
    the daemon's own store of a user (opened once, closed by the daemon): the page opens
    none of its own. With no token (its file could not be made) only /metrics is served,
    to our own names. `answers`: MCP's `ask` (the daemon's text conversations)."""
    if token is None:
        return await serve_metrics(render_metrics, config.web.host, config.web.port)
    stores = UserStores(household, embedder, bus, borrow=store_of)
    web = config.web
    return await serve_web(
        render_metrics, web.host, web.port, stores, bus, default_user, token, answers=answers
    )
