"""What keeps a page on localhost safe from the other web sites open in the same browser.

- DNS rebinding: a site's own name made to resolve to 127.0.0.1 reaches this server with
  its name in the Host header. Only our own names are answered: localhost, the configured
  host, loopback addresses, and (when listening on every address) this machine's name and
  IP literals, which cannot be rebound.
- Cross-site requests: a state change must carry our custom header and, when the browser
  names an Origin, come from this very origin. A custom header makes another origin's
  `fetch` send a CORS preflight first, which this server never approves; an HTML form
  cannot set one at all.
- Cross-site reads and embedding: `Sec-Fetch-Site` names requests from other sites; the
  API refuses them, and every answer says `Cross-Origin-Resource-Policy: same-origin`.

Other programs (OpenAI and Ollama clients) call their own routes (`CLIENT_PATHS`) with a
token and no browser's headers: those routes need the token and pass the cross-site read
check (a browser on another site cannot send a bearer header without a CORS preflight, which
this server never approves), but not the page's write header.

`PageGuard` applies these, and the access token, to every request before any route sees it
(so no route can forget one), and leaves what the token may do (`tokens.Grant`) in the
request's state for the routes; `SafeHeaders` adds the headers below to every answer.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from secondself.web.errors import HttpError, error_response
from secondself.web.tokens import Grant, TokenRefused

if TYPE_CHECKING:  # access.py reads WILDCARDS from here
    from secondself.web.access import Access

MCP_PATH = "/mcp"  # the MCP endpoint (`mcp_http.py`): its clients send the token only
MCP_OWNER_ONLY = "the MCP endpoint takes the install's own token (`secondself web` shows it)"
WRITE_HEADER = "x-secondself"  # the page sends "X-Secondself: 1" with every change
WRITE_METHODS = frozenset({"POST", "DELETE"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})
# What needs a token: the page's API, and what other programs call (their routes below).
TOKEN_PREFIXES = ("/api/", "/v1/")
# Other programs' routes (the OpenAI- and Ollama-compatible APIs): no page write header.
CLIENT_PREFIXES = ("/v1/",)
CLIENT_PATHS = frozenset({"/api/chat", "/api/tags", "/api/version"})
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="secondself"'}
UNAUTHORIZED = (
    "this needs the page's access token: open the link `secondself web` prints, "
    "or send Authorization: Bearer TOKEN (a program's own: `secondself token create`)"
)


@dataclass(frozen=True, slots=True)
class Hosts:
    """The names a request's Host header may give."""

    names: frozenset[str]
    everywhere: bool  # listening on every address: any IP literal of this machine is fine

    @classmethod
    def for_host(cls, configured: str) -> Hosts:
        everywhere = configured in WILDCARDS
        names = {"localhost", configured.lower().strip("[]")}
        if everywhere:  # then also reached by this machine's name
            hostname = socket.gethostname().lower()
            names |= {hostname, f"{hostname}.local"}
        return cls(frozenset(n for n in names if n not in WILDCARDS), everywhere)

    def check(self, headers: Mapping[str, str]) -> None:
        """HttpError 421 unless the request names this server."""
        header = headers.get("host")
        if header is None:
            raise HttpError(400, "no-host", "the request has no Host header")
        name = host_name(header)
        ip = _ip(name)
        if name in self.names or (ip is not None and (ip.is_loopback or self.everywhere)):
            return
        raise HttpError(421, "wrong-host", f"this server does not answer to {name!r}")


def host_name(header: str) -> str:
    """The name part of a Host header ("[::1]:8765" -> "::1", "pi.local:80" -> "pi.local")."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def check_site(headers: Mapping[str, str]) -> None:
    """HttpError 403 for a request the browser says comes from another site."""
    site = headers.get("sec-fetch-site", "same-origin").lower()
    if site not in ("same-origin", "none"):
        raise HttpError(403, "cross-site", "requests from other sites are refused")


def check_write(method: str, headers: Mapping[str, str], schemes: tuple[str, ...]) -> None:
    """HttpError 403 for a state change that may come from another origin (the page's own
    origin is this Host with one of `schemes`: https too behind a TLS proxy)."""
    if method not in WRITE_METHODS:
        return
    if headers.get(WRITE_HEADER) != "1":
        raise HttpError(403, "no-write-header", "changes need the header X-Secondself: 1")
    origin = headers.get("origin")
    host = headers.get("host", "")
    if origin is not None and origin not in {f"{scheme}://{host}" for scheme in schemes}:
        raise HttpError(403, "cross-origin", f"changes from {origin} are refused")


def is_client_path(path: str) -> bool:
    """A route other programs call, not the page."""
    return path in CLIENT_PATHS or path.startswith(CLIENT_PREFIXES)


# Sent with every answer of the page and its API.
SAFE_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),  # no clickjacking the Forget button
    ("Cache-Control", "no-store"),
)
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class PageGuard:
    """ASGI middleware: who may ask what, before routing.

    `/metrics` holds counts and durations only, yet a DNS-rebinding page must not read the
    device's activity: it answers our own host names with no token (a scrape on this
    machine), and any name with the install's token (Prometheus on another host names the
    device as it likes). Everything else passes the Host check first. The page, its script
    and style are public code; every /api/ and /v1/ route holds a user's own data and needs
    a token as a bearer header (the install's, or a scoped one), then passes the cross-site
    checks. With no `access` (no token could be made) there is no API to guard: only
    /metrics is served.
    """

    def __init__(
        self, app: ASGIApp, hosts: Hosts, access: Access | None, proxied: bool = False
    ) -> None:
        self.app = app
        self.hosts = hosts
        self.access = access
        self.proxied = proxied  # behind a TLS proxy: the page's origin is https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                grant = self.check(scope["method"], scope["path"], Headers(scope=scope), scope)
            except HttpError as refused:
                response = error_response(
                    refused.status_code, refused.code, refused.message, refused.headers,
                    path=scope["path"],
                )  # fmt: skip
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})["grant"] = grant
        await self.app(scope, receive, send)

    def check(self, method: str, path: str, headers: Headers, scope: Scope) -> Grant | None:
        """What the request's token may do (None: no route here needs one); HttpError for a
        request this server must not answer."""
        if path == "/metrics":
            if self.access is None or not self.access.allows(headers):
                self.hosts.check(headers)
            return None
        self.hosts.check(headers)
        if not path.startswith((*TOKEN_PREFIXES, MCP_PATH)) or self.access is None:
            return None
        try:
            grant = self.access.grant(headers)
        except TokenRefused as refused:
            message = UNAUTHORIZED if refused.code == "unauthorized" else refused.message
            raise HttpError(401, refused.code, message, CHALLENGE) from None
        if grant is None:
            raise HttpError(401, "unauthorized", UNAUTHORIZED, CHALLENGE)
        check_site(headers)
        if path == MCP_PATH:
            # An MCP client sends no write header: its token is its proof (a cross-site
            # page cannot send one). Its tools act as the owner, so only the install's
            # token reaches them until they are scoped by the token.
            if not grant.owner:
                raise HttpError(403, "mcp-owner-only", MCP_OWNER_ONLY)
            return grant
        if not is_client_path(path):
            schemes = (
                (scope.get("scheme", "http"), "https")
                if self.proxied
                else (scope.get("scheme", "http"),)
            )
            check_write(method, headers, schemes)
        return grant


class SafeHeaders:
    """ASGI middleware: `SAFE_HEADERS` on every answer (refusals included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_safely(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                for name, value in SAFE_HEADERS:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_safely)
