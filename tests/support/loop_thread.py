"""An asyncio event loop on its own thread, as the daemon's is: tests call into it from the
test's thread (servers, watchdog pings) and can hang it on purpose."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Runs `coro` on the loop and waits for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def hang(self, release: threading.Event) -> threading.Event:
        """Blocks the loop (a callback that never returns until released)."""
        hung = threading.Event()

        def block() -> None:
            hung.set()
            release.wait()

        self.loop.call_soon_threadsafe(block)
        assert hung.wait(5)
        return hung

    def close(self) -> None:
        """Cancels what still runs on the loop, then stops and closes it."""

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_all(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
