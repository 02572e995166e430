"""The sd_notify protocol: state lines as datagrams to the socket in $NOTIFY_SOCKET.

A service with `Type=notify` says READY=1 when it serves, STATUS=... for humans
(`systemctl status`), WATCHDOG=1 at least every WatchdogSec (systemd sets WATCHDOG_USEC),
RELOADING=1/READY=1 around a reload and STOPPING=1 when it shuts down. Without
$NOTIFY_SOCKET (run by hand, in tests) every call does nothing. Anchor: nobodd's systemd.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify messages; safe to call from any thread, never raises."""

    def __init__(self, address: str | None) -> None:
        # An address starting with "@" is in the abstract namespace (a leading NUL byte).
        self.address = "\0" + address[1:] if address and address.startswith("@") else address
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._warned = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, *lines: str) -> bool:
        """Sends `lines` as one datagram; False when there is no socket or it failed."""
        if not self.address:
            return False
        data = "\n".join(lines).encode("utf-8", "replace")
        with self._lock:
            try:
                if self._socket is None:  # one socket for the daemon's life: no fd churn
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    self._socket.setblocking(False)  # never stall the event loop on systemd
                self._socket.sendto(data, self.address)
            except OSError as exc:
                if not self._warned:  # once: a watchdog ping fails many times a minute
                    log.warning("cannot notify systemd at %s: %s", self.address, exc)
                    self._warned = True
                return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def reloading(self) -> bool:
        # MONOTONIC_USEC lets systemd >= 253 (Type=notify-reload) match this to its request.
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")

    def stopping(self, status: str = "") -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={_one_line(status)}"] if status else []))

    def close(self) -> None:
        with self._lock:
            if self._socket is not None:
                with contextlib.suppress(OSError):
                    self._socket.close()
                self._socket = None


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """How often to ping, in seconds (half of WatchdogSec), or None without a watchdog.

    WATCHDOG_PID, when set, names the process the watchdog is meant for: a child that
    inherited the environment must not ping on its parent's behalf.
    """
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 1e6 / 2


def _one_line(text: str) -> str:
    return " ".join(text.split())


async def keep_alive(notifier: Notifier, interval: float, check: Callable[[], str | None]) -> None:
    """Pings the watchdog every `interval` seconds while `check()` finds no problem.

    It runs on the event loop, so a hung loop stops the pings as surely as a failed check;
    systemd then kills and restarts the service after WatchdogSec.
    """
    sick = False
    while True:
        problem = check()
        if problem is None:
            notifier.watchdog()
            if sick:
                log.warning("healthy again: watchdog pings resumed")
                sick = False
        elif not sick:
            log.error("unhealthy, watchdog pings paused: %s", problem)
            sick = True
        await asyncio.sleep(interval)
