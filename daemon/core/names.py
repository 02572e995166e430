"""User and persona names: they become file names, so they keep to a safe alphabet."""

from __future__ import annotations

import re

from secondself.core.errors import UserError

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")  # whole names only: fullmatch


def check_name(kind: str, name: str) -> str:
    """`name` if it is 1-32 of a-z, 0-9, '-' and '_' (not starting with '-'/'_'), else UserError."""
    if not NAME_PATTERN.fullmatch(name):
        raise UserError(
            "bad-name",
            f"invalid {kind} name {name!r}: use 1-32 of a-z, 0-9, '-' and '_'",
        )
    return name
