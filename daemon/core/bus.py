"""One event bus: publish from any thread, subscribe with a callback or an async iterator."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO

from secondself.core.events import Event

log = logging.getLogger(__name__)

Handler = Callable[[Event], None]


class Bus:
    """Delivers every published event, in order, to each subscriber.

    Callbacks run on the publishing thread and must be quick (a log line, an LED pin).
    Async subscribers get their own queue and are fed on the event loop, so worker threads
    (STT, LLM, TTS) can publish without touching the loop's objects directly.
    """

    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        self._queues: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Event]]] = []
        self._lock = threading.Lock()

    def on(self, handler: Handler) -> Callable[[], None]:
        """Call `handler` for every event; returns a function that unsubscribes it."""
        with self._lock:
            self._handlers.append(handler)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._handlers.remove(handler)

        return unsubscribe

    def publish(self, event: Event) -> None:
        with self._lock:
            handlers = list(self._handlers)
            queues = list(self._queues)
        for handler in handlers:
            try:
                handler(event)
            except Exception:  # a broken subscriber must never stop the pipeline
                log.exception("event handler %r failed on %s", handler, event.name)
        for loop, queue in queues:
            if loop.is_closed():
                continue
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                queue.put_nowait(event)
            else:
                loop.call_soon_threadsafe(queue.put_nowait, event)

    async def events(self) -> AsyncIterator[Event]:
        """Iterate over every event published from now on (until the caller stops)."""
        entry = (asyncio.get_running_loop(), asyncio.Queue[Event]())
        with self._lock:
            self._queues.append(entry)
        try:
            while True:
                yield await entry[1].get()
        finally:
            with self._lock:
                self._queues.remove(entry)


class JsonLinesLog:
    """Writes each event as one JSON line (the `--events FILE` log); text is redacted."""

    def __init__(self, stream: IO[str], redact: bool = True) -> None:
        self._stream = stream
        self._redact = redact
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, redact: bool = True) -> JsonLinesLog:
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(path.open("a", encoding="utf-8", buffering=1), redact)

    def __call__(self, event: Event) -> None:
        line = json.dumps(event.to_dict(redact=self._redact), ensure_ascii=False)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def close(self) -> None:
        self._stream.close()
