"""What the daemon's one HTTP port serves: `/metrics` (as ever), the page, and its API.

`/metrics` answers as it always has, to any Host and with no token (a Prometheus scraper
names the device as it likes): counts and durations only, nothing the user said.
Everything else is the user's own data and goes through the guards first: our own Host
names, then the install's access token (`access.py`) for the page and every /api/ route,
then the cross-site checks. The page's script and style are public code and need no token.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from secondself.web import guard
from secondself.web.access import SERVICE_HINT, Access
from secondself.web.http import HttpError, Request, Response, error_response

if TYPE_CHECKING:  # the API needs the memory store; serving only /metrics does not
    from secondself.web.api import WebApi

METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
STATIC = {
    "/": ("index.html", HTML_TYPE),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}
CHALLENGE = ("WWW-Authenticate", 'Bearer realm="secondself"')
NO_TOKEN = (
    "secondself: this page needs its access link.\n\n"
    "On the device, run\n\n    secondself web\n\n"
    "and open the link it prints (it holds the page's token; the browser then keeps a\n"
    f"cookie). Under systemd:\n\n    {SERVICE_HINT}\n\n"
    "A link followed from another web site does not carry the cookie: open the page's\n"
    "address yourself.\n"
)
WRONG_TOKEN = (
    "secondself: this link's token is not the page's (a new data folder or a deleted\n"
    "web-token file makes a new one).\n\n"
    "Run `secondself web` on the device for the current link.\n"
)
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
        if request.path == "/metrics":
            if request.method not in ("GET", "HEAD"):
                return _text(405, "GET /metrics\n")
            return _text(200, self._render())
        if self._api is None or self._access is None:
            return _text(404, "only /metrics is served here\n")
        try:
            response = await self._page(request, self._api, self._access)
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

    async def _page(self, request: Request, api: WebApi, access: Access) -> Response:
        self._hosts.check(request.headers)
        if request.path in STATIC:
            if request.method not in ("GET", "HEAD"):
                raise HttpError(405, "method", f"{request.path} takes GET")
            if request.path == "/":
                return await self._index(request, api, access)
            return await self._static(request.path, api)
        if not request.path.startswith("/api/"):
            raise HttpError(404, "not-found", f"no such page: {request.path}")
        if not access.allows(request.headers):
            raise HttpError(401, "unauthorized", UNAUTHORIZED)
        guard.check_site(request.headers)
        guard.check_write(request.method, request.headers)
        return await api.handle(request)

    async def _index(self, request: Request, api: WebApi, access: Access) -> Response:
        given = request.query.get("token")
        if given is not None:
            if not access.matches(given):
                return Response(401, WRONG_TOKEN.encode(), TEXT_TYPE, (CHALLENGE,))
            return _let_in(request, access)
        if not access.allows(request.headers):
            return Response(401, NO_TOKEN.encode(), TEXT_TYPE, (CHALLENGE,))
        return await self._static("/", api)

    async def _static(self, path: str, api: WebApi) -> Response:
        name, kind = STATIC[path]
        if name not in self._files:  # package data: read once, from the wheel or the tree
            self._files[name] = await api.run(lambda: _read_static(name))
        policy = (("Content-Security-Policy", guard.PAGE_POLICY),)
        return Response(200, self._files[name], kind, policy if name.endswith(".html") else ())


def _let_in(request: Request, access: Access) -> Response:
    """The token was right: set the cookie, then go on to the page without the token.

    The page's own refresh does the going on, not a 303: a SameSite=Strict cookie is not
    sent with the request a redirect makes when the link was followed from another site
    (a chat, a webmail), and the page would answer 401 just after accepting the token. A
    navigation this page starts is same-site, so the cookie goes with it; and the browser
    replaces the tokened address in the tab's history."""
    rest = {k: v for k, v in request.query.items() if k != "token"}
    target = "/" + (f"?{urlencode(rest, quote_via=quote)}" if rest else "")
    link = html.escape(target, quote=True)
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0; url={link}"><title>secondself</title></head>'
        f'<body><p><a href="{link}">Open the page</a></p></body></html>'
    )
    headers = (
        ("Set-Cookie", access.cookie()),
        ("Content-Security-Policy", guard.PAGE_POLICY),
    )
    return Response(200, body.encode("utf-8"), HTML_TYPE, headers)


def _read_static(name: str) -> bytes:
    return resources.files("secondself.web").joinpath("static", name).read_bytes()
