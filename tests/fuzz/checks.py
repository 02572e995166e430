"""What every fuzzed reply must be, whatever the request: JSON any parser takes."""

from __future__ import annotations

import json
from typing import Any


def standard_json(text: str | bytes) -> Any:
    """`text` parsed as JSON; AssertionError for Python's NaN and Infinity, which are not."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"non-standard JSON: {constant}")

    return json.loads(text, parse_constant=refuse)
