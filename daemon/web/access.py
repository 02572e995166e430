"""Who may read the page: whoever holds the install's access token (the owner: every user
and persona), or a scoped token of the data home's book (`tokens.py`: one user's persona).

The page and its API hold every user's memories, and 127.0.0.1 is open to every local
process and Unix account, so a request must prove it was given the token. The token is a
random secret in `<data home>/web-access-token` (mode 0600, made atomically on the daemon's
first start): under systemd the data home is the service's StateDirectory, readable only by the
service's user and root. `secondself web` prints the page's link with it.

- Every API request carries it as `Authorization: Bearer TOKEN`. A script sends it so; the
  page is opened as `/#token=TOKEN`, and its script keeps the token in the origin's
  localStorage and sends it the same way. The fragment never reaches a server (no request
  line, log or Referer holds it), and no cookie is used: a browser sends a cookie for
  127.0.0.1 to every port there, so any local web server the user visits would get it.

The comparison is in constant time. `/metrics` holds no private text: it needs no token
when the Host names this server (a scrape on this machine), and takes it from a scraper on
another host, whatever name that gives the device.
Deleting the file and restarting the daemon makes a new token (every browser must then
open the new link).

Versions before the bearer-only page kept the token in `web-token` and let a browser in with
a cookie that held it, so any local server the browser visited since may have it: the first
start of this version retires that token and makes a new one. (Those browsers needed the
new link anyway: they held no token of their own.)
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from secondself.core.errors import SecondselfError, UserError
from secondself.core.paths import private_dir
from secondself.web.guard import WILDCARDS
from secondself.web.tokens import OWNER, Grant, TokenBook, TokenRefused

log = logging.getLogger(__name__)

TOKEN_FILE = "web-access-token"
OLD_TOKEN_FILE = "web-token"  # sent in a cookie by older versions: retired (module notes)
TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 43 characters, 256 random bits
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32,256}")  # what a token file may hold
SERVICE_HINT = (
    "sudo -u secondself /opt/secondself/.venv/bin/secondself --home /var/lib/secondself web"
)


class Access:
    """Who a request's bearer token says it is: the owner (the install's token) or the user
    and persona of a scoped token (`tokens.TokenBook`, when the page has one)."""

    def __init__(self, token: str, book: TokenBook | None = None) -> None:
        if not TOKEN_PATTERN.fullmatch(token):
            raise ValueError("a web token is 32-256 characters of A-Z, a-z, 0-9, '-' and '_'")
        self._token = token.encode("ascii")
        self.book = book

    def matches(self, given: str) -> bool:
        """Whether `given` is the token (constant time: no timing tells how close it came)."""
        return hmac.compare_digest(given.encode("utf-8", "replace"), self._token)

    def allows(self, headers: Mapping[str, str]) -> bool:
        """Whether the request carries the install's token as a bearer header."""
        given = bearer(headers)
        return given is not None and self.matches(given)

    def grant(self, headers: Mapping[str, str]) -> Grant | None:
        """What the request's bearer token may do (None: it sent none); TokenRefused for a
        token that is not, or no longer, good."""
        given = bearer(headers)
        if given is None:
            return None
        if self.matches(given):
            return OWNER
        if self.book is None:
            raise TokenRefused("unauthorized", "this is not a token of this device")
        return self.book.grant(given)


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header, if the request has one."""
    scheme, _, credentials = headers.get("authorization", "").strip().partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


# --- the token file -------------------------------------------------------------------------


def load_or_create(home: Path) -> str:
    """The install's token, made on first use (for the daemon: it owns the data home).

    A new token is written to a private temporary file (0600) and linked into place, so a
    reader never sees a half-written file and two starts at once agree on one token.
    OSError when the data home cannot be written."""
    token = _current_or_new(home / TOKEN_FILE)
    _retire_old_token(home)  # after: a crash between leaves the old token, never none
    return token


def _current_or_new(path: Path) -> str:
    try:
        token = _read(path)
    except FileNotFoundError:
        return _create(path)
    if not TOKEN_PATTERN.fullmatch(token):
        log.warning("%s does not hold a valid token: a new one replaces it", path)
        return _create(path, replace=True)
    _keep_private(path)
    return token


def read(home: Path) -> str:
    """The install's token, for `secondself web` (never creates one: the file must belong
    to the daemon's user, so only the daemon makes it). UserError when it cannot be read."""
    path = home / TOKEN_FILE
    try:
        token = _read(path)
    except FileNotFoundError:
        if (home / OLD_TOKEN_FILE).exists():
            raise UserError(
                "web-old-token",
                f"the web page's token in {home} is an older version's, which a cookie "
                "gave away: restart the daemon, it makes a new one",
            ) from None
        raise UserError(
            "web-no-token",
            f"no web page token in {home} yet: the daemon makes it when it starts "
            "(`secondself run`); under systemd use --home /var/lib/secondself",
        ) from None
    except PermissionError:
        raise UserError(
            "web-token-unreadable",
            f"cannot read {path}: it belongs to the daemon's user; under systemd run "
            f"`{SERVICE_HINT}` (or as root)",
        ) from None
    except OSError as exc:
        raise SecondselfError("web-token-unreadable", f"cannot read {path}: {exc}") from None
    if not TOKEN_PATTERN.fullmatch(token):
        raise UserError(
            "web-token-invalid",
            f"{path} does not hold a valid token: delete it and restart the daemon",
        )
    return token


def _read(path: Path) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        return file.read(1024).decode("ascii", "replace").strip()


def _create(path: Path, replace: bool = False) -> str:
    private_dir(path.parent)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # exactly, whatever the umask
            os.write(fd, f"{token}\n".encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)  # fails if another start made it first
            except FileExistsError:
                return _current_or_new(path)  # theirs wins: one token for both
            except OSError:  # a file system without hard links
                os.replace(temporary, path)
        _sync_folder(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return token


def _retire_old_token(home: Path) -> None:
    old = home / OLD_TOKEN_FILE
    with contextlib.suppress(FileNotFoundError):
        old.unlink()
        _sync_folder(home)
        log.warning(
            "the web page has a new access token (older versions also sent it in a cookie, "
            "which a browser gives every local port): open the link `secondself web` prints"
        )


def _keep_private(path: Path) -> None:
    """A token file others can read is no secret: take their access away (and say so)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s was readable by others (mode %o): now 0600", path, mode)
        path.chmod(0o600)


def _sync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- the page's address ---------------------------------------------------------------------


def page_url(host: str, port: int, token: str | None = None, tls: bool = False) -> str:
    """The page's address for a browser on this machine (a wildcard host is loopback)."""
    if host in WILDCARDS:
        host = "::1" if host == "::" else "127.0.0.1"
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    url = f"{'https' if tls else 'http'}://{host}:{port}/"
    return f"{url}#token={token}" if token is not None else url
