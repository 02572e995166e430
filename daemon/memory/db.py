"""Opening a user's memory database: apsw with sqlite-vec, durable and forgetful pragmas."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import apsw
import sqlite_vec

from secondself.core.errors import SecondselfError, Stage, UserError
from secondself.core.paths import private_dir
from secondself.memory import schema

DB_FILE = "memory.db"
BUSY_TIMEOUT_MS = 5000


def connect(path: Path, migrate: bool = True) -> apsw.Connection:
    """Open (creating if needed) and migrate the database at `path`.

    The schema version is read before anything is written, so a file from a newer
    secondself is refused without being touched (not even its journal mode).
    """
    try:
        _create_private(path)
        db = apsw.Connection(str(path))
    except OSError as exc:
        raise SecondselfError(
            "memory-open", f"cannot create {path.parent}: {exc.strerror}", Stage.MEMORY
        ) from exc
    except apsw.CantOpenError as exc:
        raise SecondselfError(
            "memory-open", f"cannot open memory database {path}: {exc}", Stage.MEMORY
        ) from exc
    try:
        db.set_busy_timeout(BUSY_TIMEOUT_MS)
        try:
            schema.check_readable(db, str(path))
        except apsw.NotADBError as exc:
            raise UserError(
                "memory-not-a-database",
                f"{path} is not a memory database (not SQLite); it was left unchanged",
                Stage.MEMORY,
            ) from exc
        db.enable_load_extension(True)
        db.load_extension(sqlite_vec.loadable_path())
        db.enable_load_extension(False)
        # WAL: readers (the web page) never block the writer. synchronous=FULL: a memory
        # whose save returned survives a power cut. secure_delete: freed pages are zeroed,
        # so forgotten text does not linger in the free list. temp_store=MEMORY: VACUUM's
        # temporary copy never touches a disk outside the data home.
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA secure_delete = ON")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA temp_store = MEMORY")
        if migrate:
            schema.migrate(db)
    except BaseException:
        db.close()
        raise
    return db


def _create_private(path: Path) -> None:
    """A new database file is made 0600 first: SQLite would make it 0644 under a usual umask,
    and its -wal and -shm files take the database file's mode."""
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):  # an existing file is left as it is
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))


def checkpoint_truncate(db: apsw.Connection) -> bool:
    """Copy the WAL into the database and cut it to zero bytes; False if a reader held it."""
    busy, _log, _done = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone() or (1, 0, 0)
    return int(busy) == 0


def get_meta(db: apsw.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(db: apsw.Connection, key: str, value: str) -> None:
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


# apsw types every column as a union of SQLite values; these narrow it where we know.
def as_int(value: object) -> int:
    if isinstance(value, int):
        return value
    raise TypeError(f"expected an integer column, got {type(value).__name__}")


def as_float(value: object) -> float:
    if isinstance(value, int | float):
        return float(value)
    raise TypeError(f"expected a numeric column, got {type(value).__name__}")


def as_blob(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    raise TypeError(f"expected a blob column, got {type(value).__name__}")


def scalar_int(db: apsw.Connection, sql: str, params: tuple[object, ...] = ()) -> int:
    """The first column of the first row as an int (0 when there is no row or it is NULL)."""
    row = db.execute(sql, params).fetchone()
    return 0 if row is None or row[0] is None else as_int(row[0])
