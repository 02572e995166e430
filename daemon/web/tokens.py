"""Scoped tokens: one user, seen as one persona, allowed one scope, kept hashed.

Besides the install's own token (`access.py`: the owner's, for every user and persona), the
owner gives each program a token of its own (`secondself token create --user U --persona P
--scope read|ask|remember|admin`). A request with it is that user, seen as that persona,
and may do what its scope allows; each scope includes the ones before it:

  read      the persona's memories, conversations and models
  ask       questions (the OpenAI- and Ollama-compatible chat: kept as a conversation
            turn, as a spoken question is)
  remember  remember, correct, share and forget
  admin     the device's live events

The tokens are rows of `<data home>/web-tokens.db` (SQLite, mode 0600): id, name, user,
persona, scope, the SHA-256 of the token, when it was made, expires, was revoked and was
last used. The token itself is never stored: it is printed once, when made. A token reads
`ss_<id>_<secret>`: its id finds the row, and the digests are compared in constant time.
A 256-bit random secret needs no slow hash: no one can try enough of them.

The daemon reads a row on each request (one indexed read in WAL mode, where a writer never
blocks a reader), so a token made or revoked by the CLI counts at once, without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from secondself.core.errors import SecondselfError, UserError
from secondself.core.names import check_name
from secondself.core.paths import private_dir

log = logging.getLogger(__name__)

TOKENS_FILE = "web-tokens.db"
PREFIX = "ss"
TOKEN_SHAPE = re.compile(r"ss_([0-9a-f]{8})_([A-Za-z0-9_-]{43})")
SECRET_BYTES = 32  # secrets.token_urlsafe(32): 43 characters, 256 random bits
TOUCH_S = 60.0  # `last_used` is written at most this often for a token (it costs a write)
LONGEST_S = 10 * 365 * 86400  # --expires: at most ten years
UNITS_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    user TEXT NOT NULL,
    persona TEXT NOT NULL,
    scope TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL,
    revoked REAL,
    last_used REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS tokens_live_name ON tokens(name) WHERE revoked IS NULL;
"""
COLUMNS = "id, name, user, persona, scope, sha256, created, expires, revoked, last_used"


class Scope(StrEnum):
    READ = "read"
    ASK = "ask"
    REMEMBER = "remember"
    ADMIN = "admin"

    def includes(self, needed: Scope) -> bool:
        order = list(Scope)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True, slots=True)
class Grant:
    """What a request's token lets it do: the owner's (any user, any persona) or a scoped
    token's (its user, its persona)."""

    scope: Scope
    user: str | None = None  # None: the owner's token
    persona: str | None = None
    token_id: str | None = None

    @property
    def owner(self) -> bool:
        return self.user is None


OWNER = Grant(Scope.ADMIN)


class TokenRefused(Exception):
    """A token that is not (or no longer) good: a code and a one-line reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: str
    name: str
    user: str
    persona: str
    scope: Scope
    sha256: str
    created: float
    expires: float | None
    revoked: float | None
    last_used: float | None

    def state(self, now: float) -> str:
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and now >= self.expires:
            return "expired"
        return "active"

    def to_dict(self, now: float) -> dict[str, object]:
        """What `token list --json` shows (never the digest: it is no one's business)."""
        return {
            "id": self.id, "name": self.name, "user": self.user, "persona": self.persona,
            "scope": str(self.scope), "created": self.created, "expires": self.expires,
            "revoked": self.revoked, "last_used": self.last_used, "state": self.state(now),
        }  # fmt: skip


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def parse_duration(text: str) -> float:
    """`30d` -> seconds (m, h, d and w: minutes, hours, days, weeks); UserError otherwise."""
    match = re.fullmatch(r"([0-9]{1,6})([mhdw])", text.strip().lower())
    seconds = int(match[1]) * UNITS_S[match[2]] if match else 0
    if not 0 < seconds <= LONGEST_S:
        raise UserError(
            "token-bad-expiry",
            f"--expires {text!r}: use a number and m, h, d or w (30d: thirty days), "
            "at most ten years",
        )
    return float(seconds)


class TokenBook:
    """The scoped tokens of one data home. Thread-safe; `grant` is quick enough for the
    event loop (an indexed read; a write at most once a minute for each token)."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._touched: dict[str, float] = {}  # token id -> when its last_used was written
        _create_private(path)
        # A short busy wait: a reader on the event loop must never hang on a writer.
        self._db = sqlite3.connect(path, timeout=0.25, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    @classmethod
    def open(cls, home: Path, clock: Callable[[], float] = time.time) -> TokenBook:
        """The data home's book, made (0600) if there is none. SecondselfError when it
        cannot be read or made."""
        try:
            return cls(home / TOKENS_FILE, clock)
        except (OSError, sqlite3.Error) as exc:
            raise SecondselfError(
                "tokens-unreadable", f"cannot open {home / TOKENS_FILE}: {exc}"
            ) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- the CLI ------------------------------------------------------------------------

    def create(
        self,
        user: str,
        persona: str,
        scope: Scope,
        expires_in_s: float | None = None,
        name: str | None = None,
    ) -> tuple[str, TokenRecord]:
        """A new token and its record; the token is returned once and kept nowhere."""
        token_id = secrets.token_hex(4)
        token = f"{PREFIX}_{token_id}_{secrets.token_urlsafe(SECRET_BYTES)}"
        now = self._clock()
        record = TokenRecord(
            token_id, check_name("token", name) if name else token_id, user, persona, scope,
            digest(token), now, None if expires_in_s is None else now + expires_in_s, None, None,
        )  # fmt: skip
        try:
            with self._lock, self._db:
                self._db.execute(
                    f"INSERT INTO tokens ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    _row(record),
                )
        except sqlite3.IntegrityError:
            raise UserError(
                "token-name-taken", f"a token named {record.name!r} exists: revoke it first"
            ) from None
        return token, record

    def all(self) -> list[TokenRecord]:
        """Every token, revoked and expired ones too, oldest first."""
        with self._lock:
            rows = self._db.execute(f"SELECT {COLUMNS} FROM tokens ORDER BY created, id")
            return [_record(row) for row in rows]

    def revoke(self, name_or_id: str) -> TokenRecord:
        """Revoke the live token of that name, else the token of that id (revoked ones are
        kept, so `token list` shows what was given out). UserError: none, or revoked."""
        with self._lock, self._db:
            found = self._db.execute(
                f"SELECT {COLUMNS} FROM tokens WHERE name = ? OR id = ? "
                "ORDER BY revoked IS NULL DESC, created DESC LIMIT 1",
                (name_or_id, name_or_id),
            ).fetchone()
            if found is None:
                raise UserError("token-unknown", f"no token named or numbered {name_or_id!r}")
            record = _record(found)
            if record.revoked is not None:
                raise UserError("token-revoked", f"token {record.id} was revoked already")
            now = self._clock()
            self._db.execute("UPDATE tokens SET revoked = ? WHERE id = ?", (now, record.id))
        return replace(record, revoked=now)

    # --- the daemon ---------------------------------------------------------------------

    def grant(self, token: str) -> Grant:
        """What `token` may do; TokenRefused when it is no token of ours, revoked or
        expired."""
        shape = TOKEN_SHAPE.fullmatch(token)
        if shape is None:
            raise TokenRefused("unauthorized", "this is not a token of this device")
        try:
            with self._lock:
                row = self._db.execute(
                    f"SELECT {COLUMNS} FROM tokens WHERE id = ?", (shape[1],)
                ).fetchone()
        except sqlite3.Error as exc:
            log.error("reading the scoped tokens in %s failed: %s", self.path, exc)
            raise TokenRefused("tokens-unavailable", "tokens cannot be checked now") from None
        record = _record(row) if row is not None else None
        if record is None or not hmac.compare_digest(record.sha256, digest(token)):
            raise TokenRefused("unauthorized", "this is not a token of this device")
        now = self._clock()
        if record.revoked is not None:
            raise TokenRefused("token-revoked", f"token {record.name} was revoked")
        if record.expires is not None and now >= record.expires:
            raise TokenRefused("token-expired", f"token {record.name} has expired")
        self._touch(record.id, now)
        return Grant(record.scope, record.user, record.persona, record.id)

    def _touch(self, token_id: str, now: float) -> None:
        """`last_used`, best effort: a write the CLI holds up is skipped, not waited for."""
        if now - self._touched.get(token_id, float("-inf")) < TOUCH_S:
            return
        self._touched[token_id] = now
        try:
            with self._lock, self._db:
                self._db.execute("UPDATE tokens SET last_used = ? WHERE id = ?", (now, token_id))
        except sqlite3.Error as exc:
            log.debug("token %s: last use not written: %s", token_id, exc)


def _create_private(path: Path) -> None:
    """The file, made 0600 before SQLite opens it (its journal files take its mode)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    os.close(fd)


def _row(record: TokenRecord) -> tuple[object, ...]:
    return (
        record.id, record.name, record.user, record.persona, str(record.scope), record.sha256,
        record.created, record.expires, record.revoked, record.last_used,
    )  # fmt: skip


def _record(row: tuple[Any, ...]) -> TokenRecord:
    token_id, name, user, persona, scope, sha256, created, expires, revoked, used = row
    return TokenRecord(
        token_id, name, user, persona, Scope(scope), sha256, created, expires, revoked, used
    )
