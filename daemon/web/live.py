"""The bus's events as Server-Sent Events, redacted as the `--events` JSON lines are.

What was said (transcripts, answers, spoken sentences) goes out only as its length: the
page gets the user's own words through the API, never through this stream.
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


def event_line(event: Event) -> bytes:
    data = json.dumps(event.to_dict(redact=True), ensure_ascii=False, default=str)
    return f"event: bus\ndata: {data}\n\n".encode()


async def event_stream(bus: Bus, heartbeat_s: float = HEARTBEAT_S) -> AsyncGenerator[bytes, None]:
    """Every event published from now on, as SSE lines (until the client goes)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Event] = asyncio.Queue()

    def put(event: Event) -> None:  # on the loop
        if queue.qsize() >= QUEUE_LIMIT:
            queue.get_nowait()
        queue.put_nowait(event)

    def on_event(event: Event) -> None:  # on the publishing thread
        with contextlib.suppress(RuntimeError):  # the loop has closed: no one is listening
            loop.call_soon_threadsafe(put, event)

    unsubscribe = bus.on(on_event)
    try:
        yield b"retry: 2000\n: connected\n\n"  # sent at once, so the page knows it is live
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), heartbeat_s)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            yield event_line(event)
    finally:
        unsubscribe()
