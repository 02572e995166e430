"""Event printers for the terminal: a compact live line per event, or JSON lines."""

from __future__ import annotations

import json
import sys
from typing import IO

from secondself.core.clock import now
from secondself.core.events import Event


class EventPrinter:
    """Prints each event as one line. What was said is shown only where `show_text` is set
    (an interactive terminal), never in logs that may end up in the journal."""

    def __init__(
        self, stream: IO[str] | None = None, as_json: bool = False, show_text: bool = False
    ) -> None:
        self._stream = stream or sys.stdout
        self._json = as_json
        self._show_text = show_text
        self._start = now()

    def __call__(self, event: Event) -> None:
        data = event.to_dict(redact=not self._show_text)
        if self._json:
            line = json.dumps(data, ensure_ascii=False)
        else:
            data.pop("event")
            offset = data.pop("t") - self._start
            parts = [f"{k}={_short(v)}" for k, v in data.items()]
            line = f"{offset:8.2f}s  {event.name:18} {' '.join(parts)}"
        print(line, file=self._stream, flush=True)


def _short(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False) if " " in value or not value else value
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "-"
    return str(value)
