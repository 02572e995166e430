"""What the HTTP stack costs: the page's server (FastAPI on uvicorn) against the hand-written
one it replaced, each started in a fresh process, in one run.

For each start: the time from spawning the process to the first 200 (`GET /api/users` with
the token: Python, the imports, the app, the socket, one answer) and the process's RSS
after that answer. Starts alternate old / new, `--rounds` times each; medians are shown,
with the difference and the ratio. The old server is the tree at `--old` (a commit: checked
out into a temporary worktree, removed afterwards). No models are loaded: the stack's own
cost is what is measured (the daemon's models add the same to both).

    .venv/bin/python scripts/bench_web_stack.py --old 77e4451 --rounds 7
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "B" * 43

# The server, as both trees start it: serve_web over an empty household, no embedder used.
CHILD = """
import asyncio, sys
from pathlib import Path
from secondself.core.bus import Bus
from secondself.household.personas import Catalog, Defaults
from secondself.household.users import Household
from secondself.service.metrics import Metrics
from secondself.web.server import serve_web
from secondself.web.stores import UserStores

class NoEmbedder:
    name, dimensions = "none", 384
    def embed(self, texts):
        raise AssertionError("not used")

async def main():
    defaults = Defaults("hey_jarvis", "en_US-joe-medium", "qwen2.5-0.5b-instruct")
    catalog = Catalog(frozenset({"hey_jarvis"}), frozenset({"en_US-joe-medium"}),
                      frozenset({"qwen2.5-0.5b-instruct"}))
    bus = Bus()
    stores = UserStores(Household(Path(sys.argv[1]), defaults, catalog), NoEmbedder(), bus)
    server = await serve_web(Metrics().render, "127.0.0.1", 0, stores, bus, "default", sys.argv[2])
    print(server.port, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def link_tree(tree: Path) -> str:
    """The tree's import path (secondself -> daemon/), as scripts/link_tree.sh lays it."""
    made = subprocess.run(
        [str(tree / "scripts" / "link_tree.sh")], check=True, capture_output=True, text=True
    )
    return made.stdout.strip()


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def first_200(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Host": "127.0.0.1", "Authorization": f"Bearer {TOKEN}"}
        conn.request("GET", "/api/users", headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status == 200
    finally:
        conn.close()


def start_once(path: str, home: Path) -> tuple[float, int]:
    """(seconds from spawn to the first 200, RSS bytes after it) of one fresh server."""
    env = {**os.environ, "PYTHONPATH": path}
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(home), TOKEN], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        if not first_200(port):
            raise SystemExit(f"no 200 from the server of {path}")
        took = time.perf_counter() - started
        return took, rss_bytes(child.pid)
    finally:
        child.terminate()
        child.wait(10)


def report(name: str, old: list[float], new: list[float], unit: str, scale: float) -> str:
    o, n = statistics.median(old) / scale, statistics.median(new) / scale
    return f"{name:<28} {o:9.2f} {n:9.2f} {n - o:+9.2f} {n / o:7.2f}x  ({unit})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", required=True, help="the commit with the hand-written server")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        old_tree = Path(scratch) / "old"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(old_tree), args.old],
            check=True,
        )
        try:
            paths = {"old": link_tree(old_tree), "new": link_tree(ROOT)}
            seconds: dict[str, list[float]] = {"old": [], "new": []}
            rss: dict[str, list[float]] = {"old": [], "new": []}
            for round_ in range(args.rounds):
                for name in ("old", "new") if round_ % 2 == 0 else ("new", "old"):
                    took, resident = start_once(paths[name], Path(scratch) / f"home-{name}")
                    seconds[name].append(took)
                    rss[name].append(resident)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_tree)],
                check=True,
            )
    print(f"{args.rounds} starts each, alternating; medians (old: {args.old})")
    print(f"{'':<28} {'old':>9} {'new':>9} {'added':>9} {'ratio':>8}")
    print(report("spawn to first 200", seconds["old"], seconds["new"], "s", 1.0))
    print(report("RSS after the first answer", rss["old"], rss["new"], "MB", 1e6))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
