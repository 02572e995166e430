"""Starting the page: the API over the household's stores, on the metrics port."""

from __future__ import annotations

from collections.abc import Callable

from secondself.bus import Bus
from secondself.config import Config
from secondself.memory.store import MemoryStore
from secondself.personas import Catalog, Defaults
from secondself.protocols import Embedder
from secondself.users import Household
from secondself.web.api import WebApi
from secondself.web.guard import Hosts
from secondself.web.http import HttpServer, serve
from secondself.web.site import Site
from secondself.web.stores import UserStores

# The page only reads personas; the catalog (what a persona may name) is for changing them.
READ_ONLY = Catalog(frozenset(), frozenset(), frozenset())


async def serve_web(
    render_metrics: Callable[[], str],
    host: str,
    port: int,
    stores: UserStores,
    bus: Bus,
    default_user: str,
) -> HttpServer:
    """Serve /metrics, the page and its API on host:port (OSError when the port is taken).
    Closing the server ends the live streams and closes the stores it opened."""
    site = Site(render_metrics, WebApi(stores, bus, default_user), Hosts.for_host(host))
    server = await serve(site, host, port)
    server.on_close(stores.close)
    return server


async def serve_daemon_page(
    render_metrics: Callable[[], str],
    config: Config,
    store: MemoryStore,
    embedder: Embedder,
    bus: Bus,
) -> HttpServer:
    """The running daemon's page on web.host:web.port. `store` is the daemon's own user's
    (borrowed, not reopened); its folder, <home>/users/<user>, names the household."""
    owner = store.user_dir.name
    household = Household(store.user_dir.parent.parent, Defaults.from_config(config), READ_ONLY)
    stores = UserStores(
        household, embedder, bus, borrow=lambda user: store if user == owner else None
    )
    return await serve_web(render_metrics, config.web.host, config.web.port, stores, bus, owner)
