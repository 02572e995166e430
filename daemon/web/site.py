"""What the daemon's one HTTP port serves: `/metrics`, the page, and its API.

`/metrics` holds counts and durations only, nothing the user said, yet a DNS-rebinding page
must not read the device's activity: it answers our own host names with no token (a scrape
on this machine), and any name with the token as a bearer header (Prometheus on another
host names the device as it likes). Everything else goes through the Host check first. The
page itself, its script and style are public code and need no token: the page asks for it
in its link (`/#token=...`, see `access.py`). Every /api/ route holds the user's own data
and needs the token as a bearer header, then passes the cross-site checks.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING

from secondself.web import guard
from secondself.web.access import Access
from secondself.web.http import HttpError, Request, Response, error_response

if TYPE_CHECKING:  # the API needs the memory store; serving only /metrics does not
    from secondself.web.api import WebApi

METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
STATIC = {
    "/": ("index.html", HTML_TYPE),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}
CHALLENGE = ("WWW-Authenticate", 'Bearer realm="secondself"')
UNAUTHORIZED = (
    "this needs the page's access token: open the link `secondself web` prints, "
    "or send Authorization: Bearer TOKEN"
)


def _text(status: int, body: str, kind: str = METRICS_TYPE) -> Response:
    return Response(status, body.encode("utf-8"), kind)


class Site:
    def __init__(
        self,
        render_metrics: Callable[[], str],
        api: WebApi | None = None,
        hosts: guard.Hosts | None = None,
        access: Access | None = None,
    ) -> None:
        if api is not None and access is None:
            raise ValueError("the page and its API need an access token")
        self._render = render_metrics
        self._api = api
        self._access = access
        self._hosts = hosts or guard.Hosts.for_host("127.0.0.1")
        self._files: dict[str, bytes] = {}

    async def __call__(self, request: Request) -> Response:
        try:
            response = await self._answer(request)
        except HttpError as exc:
            response = error_response(exc.status, exc.code, exc.message)
            if exc.status == 401:
                response = Response(401, response.body, response.content_type, (CHALLENGE,))
        return Response(
            response.status,
            response.body,
            response.content_type,
            (*guard.SAFE_HEADERS, *response.headers),
            response.stream,
        )

    async def _answer(self, request: Request) -> Response:
        if request.path == "/metrics":
            return self._metrics(request)
        if self._api is None or self._access is None:
            return _text(404, "only /metrics is served here\n")
        return await self._page(request, self._api, self._access)

    def _metrics(self, request: Request) -> Response:
        """Counts for our own host names; for any name (a scraper elsewhere) with the token."""
        if self._access is None or not self._access.allows(request.headers):
            self._hosts.check(request.headers)
        if request.method not in ("GET", "HEAD"):
            return _text(405, "GET /metrics\n")
        return _text(200, self._render())

    async def _page(self, request: Request, api: WebApi, access: Access) -> Response:
        self._hosts.check(request.headers)
        if request.path in STATIC:
            if request.method not in ("GET", "HEAD"):
                raise HttpError(405, "method", f"{request.path} takes GET")
            return await self._static(request.path, api)
        if not request.path.startswith("/api/"):
            raise HttpError(404, "not-found", f"no such page: {request.path}")
        if not access.allows(request.headers):
            raise HttpError(401, "unauthorized", UNAUTHORIZED)
        guard.check_site(request.headers)
        guard.check_write(request.method, request.headers)
        return await api.handle(request)

    async def _static(self, path: str, api: WebApi) -> Response:
        name, kind = STATIC[path]
        if name not in self._files:  # package data: read once, from the wheel or the tree
            self._files[name] = await api.run(lambda: _read_static(name))
        policy = (("Content-Security-Policy", guard.PAGE_POLICY),)
        return Response(200, self._files[name], kind, policy if name.endswith(".html") else ())


def _read_static(name: str) -> bytes:
    return resources.files("secondself.web").joinpath("static", name).read_bytes()
