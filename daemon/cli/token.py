"""`secondself token create|list|revoke`: tokens of their own for the programs that talk to
a second self (Home Assistant, Open WebUI, any OpenAI or Ollama client), each for one user's
persona and one scope (`web/tokens.py`).

A token is printed once, when made (alone on stdout, so a script can keep it), with the
fingerprint of the page's TLS certificate for a client to pin; only its SHA-256 is kept.
The running daemon sees a new or revoked token at once. Under systemd the data home
belongs to the service: run `sudo -u secondself /opt/secondself/.venv/bin/secondself
--home /var/lib/secondself token ...`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from secondself.cli.registry import Subparsers
from secondself.core.errors import SecondselfError, UserError
from secondself.service.app import App
from secondself.web import tls
from secondself.web.access import SERVICE_HINT
from secondself.web.tokens import Scope, TokenBook, TokenRecord, parse_duration

SCOPES = ", ".join(Scope)
AS_SERVICE = SERVICE_HINT.removesuffix(" web")  # the daemon's account, under systemd


def register(sub: Subparsers) -> None:
    token = sub.add_parser("token", help="tokens for other programs: one persona, one scope")
    verbs = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)

    p = verbs.add_parser("create", help="make a token (printed once: keep it)")
    # Given here or before the command (`secondself --user anna token create`): one value.
    p.add_argument("--user", default=argparse.SUPPRESS, help="whose memories (default: default)")
    p.add_argument("--persona", default=argparse.SUPPRESS, help="seen as (default: personal)")
    p.add_argument("--scope", required=True, help=f"what it may do: {SCOPES}")
    p.add_argument("--expires", metavar="TIME", help="e.g. 30d, 12h, 2w (default: never)")
    p.add_argument("--name", help="to list and revoke it by (default: its id)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_create)

    p = verbs.add_parser("list", help="list the tokens made (never the tokens themselves)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_list)

    p = verbs.add_parser("revoke", help="revoke a token, by name or id (at once)")
    p.add_argument("token", metavar="NAME|ID")
    p.set_defaults(handler=_revoke)


def _create(args: argparse.Namespace, app: App) -> int:
    scope = _scope(args.scope)
    expires = None if args.expires is None else parse_duration(args.expires)
    persona = app.current_persona()  # an unknown user or persona: a one-line error
    book = _book(app.home)
    try:
        fingerprint = _fingerprint(app)  # first: a token made must be printed
        token, record = book.create(app.user, persona.name, scope, expires, args.name)
    finally:
        book.close()
    if args.json:
        print(json.dumps({"token": token, **_shown(record), "tls_fingerprint": fingerprint}))
        return 0
    print(token)
    until = "never expires" if record.expires is None else f"expires {_when(record.expires)}"
    print(
        f"token {record.id} ({record.name}): persona {record.persona} of user {record.user}, "
        f"scope {record.scope}, {until}. It is shown this once (only its SHA-256 is kept): "
        "send it as `Authorization: Bearer TOKEN`.",
        file=sys.stderr,
    )
    print(_certificate_line(fingerprint, app), file=sys.stderr)
    return 0


def _list(args: argparse.Namespace, app: App) -> int:
    book = _book(app.home)
    try:
        records = book.all()
    finally:
        book.close()
    now = time.time()
    fingerprint = _fingerprint(app)
    if args.json:
        shown = [_shown(r, now) for r in records]
        print(json.dumps({"tokens": shown, "tls_fingerprint": fingerprint}, indent=1))
        return 0
    row = "{:<8}  {:<16}  {:<12}  {:<12}  {:<8}  {:<16}  {:<16}  {}"
    print(row.format("ID", "NAME", "USER", "PERSONA", "SCOPE", "EXPIRES", "LAST USED", "STATE"))
    for r in records:
        expires, used = _when(r.expires, "never"), _when(r.last_used, "-")
        print(row.format(r.id, r.name, r.user, r.persona, r.scope, expires, used, r.state(now)))
    print(_certificate_line(fingerprint, app), file=sys.stderr)
    return 0


def _revoke(args: argparse.Namespace, app: App) -> int:
    book = _book(app.home)
    try:
        record = book.revoke(args.token)
    finally:
        book.close()
    print(f"revoked token {record.id} ({record.name}): persona {record.persona} of user "
          f"{record.user}, scope {record.scope}")  # fmt: skip
    return 0


def _scope(given: str) -> Scope:
    try:
        return Scope(given)
    except ValueError:
        raise UserError("token-bad-scope", f"--scope {given!r}: use one of {SCOPES}") from None


def _book(home: Path) -> TokenBook:
    """The data home's tokens; refused when the home is another account's (the daemon's):
    a file made here would be this account's, which the daemon could not read."""
    if home.is_dir() and home.stat().st_uid != os.geteuid():
        raise UserError(
            "token-not-owner",
            f"{home} belongs to another account (the daemon's): run `{AS_SERVICE} token ...`",
        )
    return TokenBook.open(home)


def _fingerprint(app: App) -> str | None:
    """The page's certificate's fingerprint: made now if the page serves TLS and the daemon
    has not started yet (as its first start would), else the one made before, if any."""
    web = app.config.web
    try:
        found = tls.load_or_create(app.home, web.host) if web.tls else tls.load(app.home)
    except (OSError, ValueError) as exc:  # ValueError: not a certificate
        raise SecondselfError("tls-unreadable", f"the page's TLS certificate: {exc}") from None
    return None if found is None else found.fingerprint


def _certificate_line(fingerprint: str | None, app: App) -> str:
    if fingerprint is not None:
        return f"TLS certificate SHA-256 fingerprint (pin it): {fingerprint}"
    if app.config.web.behind_proxy:
        return "no TLS certificate here: the reverse proxy in front does TLS (web.behind_proxy)"
    return "no TLS: the page is on this machine only (web.host is loopback, web.tls is off)"


def _shown(record: TokenRecord, now: float | None = None) -> dict[str, object]:
    return record.to_dict(time.time() if now is None else now)


def _when(seconds: float | None, none: str = "") -> str:
    return none if seconds is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds))
