"""Which paths of a data home someone other than its owner could read."""

from __future__ import annotations

import stat
from pathlib import Path


def not_private(home: Path) -> list[str]:
    """The paths under `home` (and `home`) that are not a 0700 folder, a 0600 file or a link,
    as "path mode" lines (an empty list: all private)."""
    wrong = []
    for path in [home, *sorted(home.rglob("*"))]:
        mode = path.lstat().st_mode
        wanted = 0o700 if stat.S_ISDIR(mode) else 0o600
        if not stat.S_ISLNK(mode) and stat.S_IMODE(mode) != wanted:
            wrong.append(f"{path.relative_to(home)} {stat.S_IMODE(mode):o}")
    return wrong
