"""The page's way to a user's memory: one open store per user, found through the household.

A user name reaches the disk only through `Household.require` (a checked name, a folder
that exists), so no request for one user opens another user's file. The daemon's stores
are borrowed (never opened twice, never closed here); without a daemon the page opens its
own on first use and keeps them until the server closes. Either way they are
`OpenStores`: a store whose file another process deleted or replaced is opened again, so
nothing saved on the page goes into a deleted file. Every method here blocks: call them
in a worker thread (the page's own: `WebApi.run`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from secondself.core.bus import Bus
from secondself.core.protocols import Embedder
from secondself.household.stores import OpenStores
from secondself.household.users import Household
from secondself.memory.db import DB_FILE
from secondself.memory.store import MemoryStore


class UserStores:
    def __init__(
        self,
        household: Household,
        embedder: Embedder,
        bus: Bus,
        borrow: Callable[[str], MemoryStore] | None = None,
    ) -> None:
        self.household = household
        self.embedder = embedder  # shared with the voice pipeline (it has its own lock)
        self._own: OpenStores | None = None  # the page's own stores (no daemon to borrow from)
        if borrow is None:
            borrow = self._own = OpenStores(household, embedder, bus)
        self._store_of = borrow

    def folder(self, user: str) -> Path:
        """The user's folder; UserError for a bad or unknown name."""
        return self.household.require(user)

    def has_memories(self, user: str) -> bool:
        """Whether the user has a database yet (listing must not create one)."""
        return (self.folder(user) / DB_FILE).is_file()

    def get(self, user: str) -> MemoryStore:
        self.folder(user)  # UserError before anything is opened
        return self._store_of(user)

    def close(self) -> None:
        if self._own is not None:
            self._own.close()
