"""Each user's memory store, opened once and shared, and opened again as soon as another
process deleted or replaced its file (`forget --user-all`, `user remove`, a restore).

The daemon's conversations, its button and camera and the web page all reach a user's
memory through `OpenStores`, on every use: a store whose file is gone is closed (nothing
more is read from or saved into it) and the folder opened again, or refused when the user
was removed. Those that keep a memory for long (a conversation, the device) keep one of
the small views here, never a store.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

from secondself.answer.prompt import Source
from secondself.answer.recall import PersonaMemory
from secondself.core.bus import Bus
from secondself.core.protocols import Embedder
from secondself.household.users import Household
from secondself.memory.model import Kind, Memory, Origin
from secondself.memory.store import MemoryStore

log = logging.getLogger(__name__)


SWEEP_S = 2.0  # how soon a store whose file was deleted elsewhere is let go


class OpenStores:
    """Each user's memory store, as the file on disk is now; closed together."""

    def __init__(self, household: Household, embedder: Embedder, bus: Bus) -> None:
        self.household = household
        self._embedder = embedder
        self._bus = bus
        self._stores: dict[str, MemoryStore] = {}
        self._lock = threading.Lock()

    def __call__(self, user: str) -> MemoryStore:
        """The user's store; UserError when there is no such user (any more)."""
        with self._lock:
            store = self._stores.get(user)
            if store is not None and store.replaced:
                log.info("the memories of user %s were removed or replaced: opened again", user)
                del self._stores[user]
                store.close()
                store = None
            if store is None:
                folder = self.household.require(user)
                store = self._stores[user] = MemoryStore.open(folder, self._embedder, bus=self._bus)
            return store

    def close_replaced(self) -> int:
        """Close every store whose file another process deleted or replaced, so no deleted
        database stays open (its bytes on disk, readable through /proc) until that user
        speaks again, which for a removed user is never. How many were closed."""
        with self._lock:
            gone = [user for user, store in self._stores.items() if store.replaced]
            stores = [self._stores.pop(user) for user in gone]
        for user, store in zip(gone, stores, strict=True):
            log.info("the memories of user %s were removed or replaced: closed", user)
            store.close()
        return len(stores)

    async def close_replaced_periodically(self, every_s: float = SWEEP_S) -> None:
        """The daemon's sweep (runs until cancelled): a stat per open store each time."""
        while True:
            await asyncio.sleep(every_s)
            await asyncio.to_thread(self.close_replaced)

    def close(self) -> None:
        with self._lock:
            stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            store.close()


class CurrentMemory:
    """A persona's memory (`PersonaMemory`) over its user's store as it is now: what a
    conversation keeps."""

    def __init__(self, stores: OpenStores, user: str, persona: str) -> None:
        self._stores = stores
        self.user = user
        self.persona = persona

    def recall(self, question: str, k: int) -> list[Source]:
        return self._now().recall(question, k)

    def remember(
        self, text: str, origin: Origin, kind: Kind = Kind.NOTE, corrects: int | None = None
    ) -> int:
        return self._now().remember(text, origin, kind, corrects)

    def remember_turn(self, question: str, answer: str, source_ids: list[int]) -> None:
        self._now().remember_turn(question, answer, source_ids)

    def forget_matching(self, text: str) -> list[int]:
        return self._now().forget_matching(text)

    def forget_epoch(self) -> object:
        return self._now().forget_epoch()

    def _now(self) -> PersonaMemory:
        return PersonaMemory(self._stores(self.user), self.persona)


class CurrentStore:
    """A user's store as it is now, for the device's button and camera (`MemoryWriter`)."""

    def __init__(self, stores: OpenStores, user: str) -> None:
        self._stores = stores
        self.user = user

    @property
    def user_dir(self) -> Path:
        return self._stores(self.user).user_dir

    def remember(self, text: str, **fields: Any) -> Memory:
        return self._stores(self.user).remember(text, **fields)
