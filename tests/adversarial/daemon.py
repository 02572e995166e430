"""The daemon under attack: a real `secondself run` on the virtual sound card, reached the
ways an attacker on this machine reaches it: plain HTTP on 127.0.0.1 (http.client, or raw
bytes a client library would refuse to send), the CLI on its data home, and its files.

Nothing here knows how the web server is written: replies are judged by status class, by
the JSON error shape the API keeps ({"error": ..., "code": ...}), and by what they hold.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import io
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from secondself.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
START_S = 120.0  # to READY, models loaded, on a shared machine
Headers = Mapping[str, str | None]  # None: leave that header out


def _soak() -> ModuleType:
    """scripts/soak.py, whose ServiceProcess runs the daemon as systemd does."""
    if (loaded := sys.modules.get("soak")) is not None:
        return loaded
    spec = importlib.util.spec_from_file_location("soak", ROOT / "scripts" / "soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["soak"] = module
    spec.loader.exec_module(module)
    return module


soak = _soak()


def _no_constants(name: str) -> None:
    raise ValueError(f"not standard JSON: {name}")


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: Mapping[str, str]  # names in lower case

    def json(self) -> Any:
        """The body as standard JSON: NaN or Infinity in it is an error (finding 6)."""
        return json.loads(self.body, parse_constant=_no_constants)


def assert_refused(reply: Reply) -> None:
    """A refusal: a 4xx status (never a 5xx, never a success) with the API's one line of
    JSON, {"error": "why", "code": "what"}."""
    assert 400 <= reply.status < 500, (reply.status, reply.body[:300])
    assert b"\n" not in reply.body.strip(), reply.body[:300]
    data = reply.json()
    assert isinstance(data["error"], str) and data["error"], data
    assert isinstance(data["code"], str) and data["code"], data


def status_of(response: bytes) -> int:
    """The status code of a raw HTTP response (0 when the server sent nothing)."""
    first = response.split(b"\r\n", 1)[0].split()
    return int(first[1]) if len(first) >= 2 and first[1].isdigit() else 0


@dataclass(frozen=True)
class Run:
    """One CLI command: its exit code and what it printed."""

    code: int
    out: str
    err: str

    def assert_one_line_error(self) -> None:
        """Bad input: exit 2 and one line on stderr, no traceback, nothing on stdout."""
        assert self.code == 2, (self.code, self.out, self.err)
        assert self.err.startswith("secondself: ") and self.err.count("\n") == 1, self.err
        assert "Traceback" not in self.err and self.out == "", (self.out, self.err)


def cli(data: Path, *args: str) -> Run:
    """`secondself --home DATA ARGS` in this process, as a local account would run it.

    In this process, so an uncaught exception (a traceback, for a user) fails the test
    where it is raised; the root logger is left as it was (the CLI sets up its own).
    """
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--home", str(data), *args])
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return Run(code, out.getvalue(), err.getvalue())


class Daemon:
    """`secondself run` as systemd runs it, its data home in `home/data`."""

    def __init__(self, service: Any) -> None:
        self.service = service
        self.data: Path = service.home / "data"
        self.port: int = service.port
        self.token = (self.data / "web-access-token").read_text().strip()

    @classmethod
    @contextlib.contextmanager
    def running(cls, home: Path, *args: str) -> Iterator[Daemon]:
        """The daemon on the data home `home/data` (planted before), until the block ends."""
        service = soak.ServiceProcess(home, args=args).start()
        try:
            service.wait_for("READY=1", START_S)
            yield cls(service)
        finally:
            service.stop()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return int(self.service.pid)

    def log(self) -> str:
        """Everything the daemon logged so far."""
        return Path(self.service.stderr_path).read_text(errors="replace")

    def alive(self) -> bool:
        return bool(self.service.process.poll() is None)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: Headers | None = None,
        raw: bytes | None = None,
        token: bool = True,
    ) -> Reply:
        """One request as the page's script makes it (the token as a bearer header, the
        write header on changes, this server's Host), with `headers` changed on top."""
        sent: dict[str, str | None] = {"Host": self.host}
        if token:
            sent["Authorization"] = f"Bearer {self.token}"
        if method in ("POST", "DELETE"):
            sent["X-Secondself"] = "1"
        data = raw if body is None else json.dumps(body).encode()
        if data is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            chosen = {name: value for name, value in sent.items() if value is not None}
            conn.request(method, path, body=data, headers=chosen)  # adds Content-Length
            response = conn.getresponse()
            found = {name.lower(): value for name, value in response.getheaders()}
            return Reply(response.status, response.read(), found)
        finally:
            conn.close()

    def send(self, request: bytes, timeout: float = 30.0) -> bytes:
        """Raw bytes in, everything the server sent back until it closed (or `timeout`)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as conn:
            conn.sendall(request)
            return read_to_close(conn, timeout)

    def open_fds(self) -> list[str]:
        """Where each of the daemon's file descriptors points."""
        fds = Path(f"/proc/{self.pid}/fd")
        found = []
        for fd in fds.iterdir():
            with contextlib.suppress(OSError):
                found.append(os.readlink(fd))
        return found


def read_to_close(conn: socket.socket, timeout: float) -> bytes:
    """What a connection receives until the other end closes it, or `timeout` seconds."""
    deadline = time.monotonic() + timeout
    received = b""
    while (left := deadline - time.monotonic()) > 0:
        conn.settimeout(left)
        try:
            chunk = conn.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        received += chunk
    return received
