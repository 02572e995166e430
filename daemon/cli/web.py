"""`secondself web`: print the web page's link, with the install's access token in it.

The token lives in the data home (`web-access-token`, made by the daemon on its first start).
Under systemd that is /var/lib/secondself, readable only by the service's user and root, so run
`sudo -u secondself /opt/secondself/.venv/bin/secondself --home /var/lib/secondself web`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from secondself.core.errors import SecondselfError
from secondself.service.app import App
from secondself.web import access, tls
from secondself.web.guard import WILDCARDS


def _web(args: argparse.Namespace, app: App) -> int:
    web = app.config.web
    token = access.read(app.home)
    print(access.page_url(web.host, web.port, token, tls=web.tls))
    try:
        certificate = tls.load(app.home) if web.tls else None
    except (OSError, ValueError) as exc:  # ValueError: not a certificate
        raise SecondselfError("tls-unreadable", f"the page's TLS certificate: {exc}") from None
    if certificate is not None:
        print(
            "secondself: the certificate is the device's own (self-signed), so the browser "
            f"warns once; its SHA-256 fingerprint is {certificate.fingerprint}",
            file=sys.stderr,
        )
    if web.host in WILDCARDS:
        print(
            "secondself: from another machine, put this device's name or address in place "
            "of the loopback one",
            file=sys.stderr,
        )
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "web",
        help="print the web page's link (with its access token: keep it to yourself)",
        description="Print the address of the daemon's web page with the install's access "
        "token in it, after the '#'. Opening it once lets this browser in (the page keeps "
        "the token in its own storage).",
    )
    p.set_defaults(handler=_web)
