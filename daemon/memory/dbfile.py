"""Whether a store's database is still the file on disk, so nothing is saved into one that
another process deleted (`forget --user-all`, `user remove`) or replaced (a restore).

A connection keeps the file it opened even after its name is gone: without these checks a
write would be acknowledged and lost. Every commit checks (SQLite's commit hook, run with
the write lock held) that the path still names the opened file, and is rolled back if not.
A remover holds every writer off (`writers_held_off`) while it deletes the files, so no
commit can pass that check and then land in a deleted file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import apsw

from secondself.core.errors import SecondselfError, Stage

FileId = tuple[int, int]  # (st_dev, st_ino): which file a path names
HOLD_TIMEOUT_MS = 5000  # how long a remover waits for a write in progress to finish


def file_id(path: Path) -> FileId | None:
    """The file `path` names now, None when there is none."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


class DbFile:
    """The database file a connection opened; its commits land only while `path` names it."""

    def __init__(self, db: apsw.Connection, path: Path) -> None:
        self.path = path
        self.opened = file_id(path)
        db.set_commit_hook(lambda: self.replaced)  # True: SQLite rolls the commit back

    @property
    def replaced(self) -> bool:
        """Whether the file was deleted or replaced since it was opened."""
        return self.opened is None or file_id(self.path) != self.opened

    def check(self) -> None:
        """SecondselfError when the file is no longer on disk: open it again."""
        if self.replaced:
            raise SecondselfError(
                "memory-replaced",
                f"the memories in {self.path.parent} were removed or replaced by another "
                "program while open: nothing was read or saved",
                Stage.MEMORY,
            )


@contextlib.contextmanager
def writers_held_off(path: Path) -> Iterator[None]:
    """Hold the database's write lock, if there is a database: a write in progress finishes
    first, and any later commit finds the file gone (and is rolled back). SecondselfError
    when a write goes on past the timeout: nothing was done."""
    try:
        db = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READWRITE)  # never creates
    except apsw.CantOpenError:
        yield  # no database: nothing can be written to it
        return
    try:
        db.set_busy_timeout(HOLD_TIMEOUT_MS)
        try:
            db.execute("BEGIN IMMEDIATE")
        except apsw.NotADBError:
            pass  # not a database: no commit lands in it either
        except apsw.BusyError as exc:
            raise SecondselfError(
                "memory-busy",
                f"{path} is being written to: try again in a moment (nothing was removed)",
                Stage.MEMORY,
            ) from exc
        yield
    finally:
        db.close()  # after the files went: SQLite sees they moved and leaves the names alone
