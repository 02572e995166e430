"""The page's way to a user's memory: one open store per user, found through the household.

A user name reaches the disk only through `Household.require` (a checked name, a folder
that exists), so no request for one user opens another user's file. A store the daemon
already holds is borrowed (never opened twice, never closed here); any other opens on first
use and stays open until the server closes. Every method here blocks: call them in a
worker thread (the page's own: `WebApi.run`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from secondself.core.bus import Bus
from secondself.core.protocols import Embedder
from secondself.household.users import Household
from secondself.memory.db import DB_FILE
from secondself.memory.store import MemoryStore


class UserStores:
    def __init__(
        self,
        household: Household,
        embedder: Embedder,
        bus: Bus,
        borrow: Callable[[str], MemoryStore | None] = lambda user: None,
    ) -> None:
        self.household = household
        self.embedder = embedder  # shared with the voice pipeline (it has its own lock)
        self._bus = bus
        self._borrow = borrow  # the daemon's open store of a user, or None
        self._opened: dict[str, MemoryStore] = {}
        self._lock = threading.Lock()

    def folder(self, user: str) -> Path:
        """The user's folder; UserError for a bad or unknown name."""
        return self.household.require(user)

    def has_memories(self, user: str) -> bool:
        """Whether the user has a database yet (listing must not create one)."""
        return (self.folder(user) / DB_FILE).is_file()

    def get(self, user: str) -> MemoryStore:
        folder = self.folder(user)
        with self._lock:
            store = self._borrow(user) or self._opened.get(user)
            if store is None:
                store = MemoryStore.open(folder, self.embedder, bus=self._bus)
                self._opened[user] = store
            return store

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, {}
        for store in opened.values():
            store.close()
