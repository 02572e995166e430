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
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from secondself.web.http import HttpError

WRITE_HEADER = "x-secondself"  # the page sends "X-Secondself: 1" with every change
WRITE_METHODS = frozenset({"POST", "DELETE"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})


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


def check_write(method: str, headers: Mapping[str, str]) -> None:
    """HttpError 403 for a state change that may come from another origin."""
    if method not in WRITE_METHODS:
        return
    if headers.get(WRITE_HEADER) != "1":
        raise HttpError(403, "no-write-header", "changes need the header X-Secondself: 1")
    origin = headers.get("origin")
    if origin is not None and origin != f"http://{headers.get('host', '')}":
        raise HttpError(403, "cross-origin", f"changes from {origin} are refused")


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
