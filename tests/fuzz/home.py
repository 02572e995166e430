"""A data home for fuzzing: made once with a few memories, copied fresh for each example,
and read back whole to tell whether a refused request changed anything."""

from __future__ import annotations

import shutil
from pathlib import Path

from secondself.household.users import LOCK_FILE, USERS_DIR
from secondself.memory.model import Kind, MediaInput, Visibility
from secondself.memory.store import MemoryStore
from tests.memory.test_support import HashEmbedder, tiny_jpeg

SEEDED = ["the shed key is blue", "the gate code is 4411", "my dog is called Rex"]
Files = list[tuple[str, bytes | None]]


def seed(home: Path) -> None:
    """Memories 1-6 of the default user: notes of two personas, one shared, and a photo."""
    with MemoryStore.open(home / "users" / "default", HashEmbedder()) as store:
        for text in SEEDED:
            store.remember(text)
        store.remember("a work note", persona="work")
        store.remember("for everyone", visibility=Visibility.SHARED)
        photo = MediaInput(tiny_jpeg("2024:05:01 10:00:00"), "jpg")
        store.remember("a photo of the shed", kind=Kind.IMAGE, media=photo)


def copy_home(template: Path, to: Path) -> Path:
    """A fresh copy of the seeded home `template` at `to` (links copied as links)."""
    shutil.copytree(template, to, symlinks=True)
    return to


def files(home: Path) -> Files:
    """Every folder (bytes None) and file (its bytes) under `home`, sorted by path.

    Left out as they hold no data: SQLite's -shm file (readers write their marks in it) and
    the household's lock file (made empty by the first command that takes the lock).
    """
    found: Files = []
    for path in sorted(home.rglob("*")):
        rel = path.relative_to(home).as_posix()
        if path.is_symlink() or rel.endswith("-shm") or rel == f"{USERS_DIR}/{LOCK_FILE}":
            continue
        found.append((rel, None if path.is_dir() else path.read_bytes()))
    return found
