"""What the daemon's one HTTP port serves, as one FastAPI app: `/metrics`, the page, its
API, the OpenAI- and Ollama-compatible chat APIs, the MCP endpoint (`/mcp`), and the
OpenAPI schema of them all (`/openapi.json`).

Every request passes, outermost first: the security headers (`guard.SafeHeaders`), the
limits (`limits.RequestLimits`), who may ask (`guard.PageGuard`), then its route. The page
itself, its script and style are package data, read once and served offline. The schema's
own browser (Swagger UI) is not served: it loads its script from the internet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.responses import Response

from secondself import __version__
from secondself.web import errors, guard
from secondself.web.access import Access
from secondself.web.limits import DEFAULT_LIMITS, Limits, RequestLimits

if TYPE_CHECKING:  # the API needs the memory store; serving only /metrics does not
    from secondself.web.api import WebApi
    from secondself.web.chat import Chat
    from secondself.web.mcp_http import McpEndpoint

HTML_TYPE = "text/html; charset=utf-8"
STATIC = {
    "/": ("index.html", HTML_TYPE),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}


def build_app(
    render_metrics: Callable[[], str],
    hosts: guard.Hosts,
    api: WebApi | None = None,
    access: Access | None = None,
    limits: Limits = DEFAULT_LIMITS,
    chat: Chat | None = None,
    proxied: bool = False,
    mcp: McpEndpoint | None = None,
) -> FastAPI:
    """/metrics, and with an API (it needs the access token) the page and the API; with
    `chat` (a daemon's conversations to answer with) the chat APIs too; with `mcp` the MCP
    endpoint. `proxied`: behind a reverse proxy that does TLS."""
    if api is not None and access is None:
        raise ValueError("the page and its API need an access token")
    app = FastAPI(
        title="secondself",
        version=__version__,
        summary="A second self's local page: memories, conversations, live timings.",
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # an API path is one path: "/api/memories/" is a 404, not a 307
        middleware=[
            Middleware(guard.SafeHeaders),
            Middleware(RequestLimits, limits=limits),
            Middleware(guard.PageGuard, hosts=hosts, access=access, proxied=proxied),
        ],
    )
    errors.install(app)
    _add_metrics(app, render_metrics)
    if api is not None:
        _add_page(app, api)
        api.add_routes(app)
        if mcp is not None:
            mcp.add_route(app)
    if api is not None and chat is not None:
        _add_integrations(app, chat)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _add_metrics(app: FastAPI, render: Callable[[], str]) -> None:
    async def metrics() -> Response:
        return Response(await run_in_threadpool(render), media_type=CONTENT_TYPE_PLAIN_0_0_4)

    app.add_api_route(
        "/metrics", metrics, summary="Prometheus metrics: counts and durations, no words",
        response_class=Response,
    )  # fmt: skip


def _add_integrations(app: FastAPI, chat: Chat) -> None:
    """What other programs call: the chat APIs of OpenAI's and Ollama's shapes (their paths
    are `guard.CLIENT_PATHS`: a token, no page headers)."""
    from secondself.web.ollama_api import OllamaApi
    from secondself.web.openai_api import OpenAIApi

    OpenAIApi(chat).add_routes(app)
    OllamaApi(chat).add_routes(app)
    # The MCP server mounts here. Its path goes in `guard.TOKEN_PREFIXES` (a token needed)
    # and `guard.CLIENT_PREFIXES` (no page write header); it is scoped, as these routes are,
    # by the request's `tokens.Grant` (`asker.grant_of`).


def _add_page(app: FastAPI, api: WebApi) -> None:
    for path, (name, kind) in STATIC.items():
        app.add_api_route(
            path, _static(api, name, kind), summary=f"The page: {name}", response_class=Response
        )


def _static(api: WebApi, name: str, kind: str) -> Callable[[], Awaitable[Response]]:
    """The route of one file (it takes no parameter: no request names a file)."""
    policy = {"Content-Security-Policy": guard.PAGE_POLICY} if kind == HTML_TYPE else {}
    read: list[bytes] = []

    async def serve() -> Response:
        if not read:  # package data: read once, from the wheel or the tree
            read.append(await api.run(lambda: _read_static(name)))
        return Response(read[0], headers=policy, media_type=kind)

    return serve


def _read_static(name: str) -> bytes:
    return resources.files("secondself.web").joinpath("static", name).read_bytes()


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, less the 422 answers it adds: a bad parameter here is a 400."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        for unused in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(unused, None)
        app.openapi_schema = schema
    return app.openapi_schema
