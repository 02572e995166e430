"""The bus's events as Server-Sent Events, redacted as the `--events` JSON lines are.

What was said (transcripts, answers, spoken sentences) goes out only as its length: the
page gets the user's own words through the API, never through this stream. Closing the
page ends every open stream, so the daemon stops without waiting for a browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator

from secondself.core.bus import Bus
from secondself.core.events import Event

HEARTBEAT_S = 15.0  # a comment line this often keeps proxies and the browser from timing out
QUEUE_LIMIT = 1000  # events held for a slow page; beyond it the oldest are dropped
CONNECTED = b"retry: 2000\n: connected\n\n"  # sent at once, so the page knows it is live
KEEP_ALIVE = b": keep-alive\n\n"


def event_line(event: Event) -> bytes:
    data = json.dumps(event.to_dict(redact=True), ensure_ascii=False, default=str)
    return f"event: bus\ndata: {data}\n\n".encode()


class LiveStreams:
    """The open event streams of one server (on its event loop)."""

    def __init__(self, bus: Bus, heartbeat_s: float = HEARTBEAT_S) -> None:
        self._bus = bus
        self._heartbeat_s = heartbeat_s
        self._queues: set[asyncio.Queue[Event | None]] = set()
        self._closed = False

    def close(self) -> None:
        """End every open stream (and any opened from now on)."""
        self._closed = True
        for queue in self._queues:
            queue.put_nowait(None)

    async def stream(self) -> AsyncGenerator[bytes, None]:
        """Every event published from now on, as SSE lines (until the client goes or the
        server closes)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Event | None] = asyncio.Queue()

        def put(event: Event) -> None:  # on the loop
            if self._closed:  # the end is queued: nothing may come after it, or drop it
                return
            if queue.qsize() >= QUEUE_LIMIT:
                queue.get_nowait()
            queue.put_nowait(event)

        def on_event(event: Event) -> None:  # on the publishing thread
            with contextlib.suppress(RuntimeError):  # the loop has closed: no one is listening
                loop.call_soon_threadsafe(put, event)

        if self._closed:
            return
        unsubscribe = self._bus.on(on_event)
        self._queues.add(queue)
        try:
            yield CONNECTED
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), self._heartbeat_s)
                except TimeoutError:
                    yield KEEP_ALIVE
                    continue
                if event is None:  # the server is closing
                    return
                yield event_line(event)
        finally:
            self._queues.discard(queue)
            unsubscribe()
