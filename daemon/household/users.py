"""The household: several users on one device, one folder (one database file) each, and the
registry that says which wake word wakes which user's persona.

    <home>/users/<name>/memory.db       the user's memories (secondself.memory)
    <home>/users/<name>/personas.json   the user's personas (secondself.household.personas)
    <home>/users/.lock                  held while users or personas change

A user name becomes a folder name only through `check_name` (a-z, 0-9, '-', '_'), so no
request names a path outside its own folder. A wake word wakes at most one persona of one
user on the device: `route` is a function of the wake word alone.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from secondself.core.errors import UserError
from secondself.core.names import NAME_PATTERN, check_name
from secondself.core.paths import private_dir
from secondself.household.personas import (
    DEFAULT_PERSONA,
    DEFAULT_USER,
    Catalog,
    Defaults,
    Persona,
    PersonaBook,
)
from secondself.household.routing import Registry, Route, build_registry
from secondself.memory.db import DB_FILE

USERS_DIR = "users"
LOCK_FILE = ".lock"


@dataclass(frozen=True, slots=True)
class UserInfo:
    name: str
    folder: Path
    personas: tuple[Persona, ...]
    db_bytes: int  # 0 when nothing is stored yet


class Household:
    def __init__(self, home: Path, defaults: Defaults, catalog: Catalog) -> None:
        self.home = home
        self.defaults = defaults
        self.catalog = catalog

    @property
    def users_dir(self) -> Path:
        return self.home / USERS_DIR

    # --- users -----------------------------------------------------------------------

    def folder(self, user: str) -> Path:
        return self.users_dir / check_name("user", user)

    def exists(self, user: str) -> bool:
        """The default user always exists; others once added."""
        return user == DEFAULT_USER or self.folder(user).is_dir()

    def require(self, user: str) -> Path:
        folder = self.folder(user)
        if not self.exists(user):
            raise UserError(
                "user-unknown", f"no user {user!r}: add it with `secondself user add {user}`"
            )
        return folder

    def users(self) -> list[str]:
        """The default user, then every user folder by name."""
        found: set[str] = set()
        if self.users_dir.is_dir():
            for entry in self.users_dir.iterdir():
                if NAME_PATTERN.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
                    found.add(entry.name)
        found.discard(DEFAULT_USER)
        return [DEFAULT_USER, *sorted(found)]

    def info(self, user: str) -> UserInfo:
        folder = self.require(user)
        db = folder / DB_FILE
        size = db.stat().st_size if db.is_file() else 0
        return UserInfo(user, folder, tuple(self.book(user).all()), size)

    def add_user(self, name: str, wake_word: str | None = None) -> UserInfo:
        """A new user with an empty database; `wake_word` wakes their "personal" persona."""
        folder = self.folder(name)
        with self.lock():
            if self.exists(name):
                raise UserError("user-exists", f"user {name!r} already exists")
            personal = None
            if wake_word is not None:
                base = self.book(name).get(DEFAULT_PERSONA)
                personal = self.catalog.check(replace(base, wake_word=wake_word))
                self._check_wake(name, personal)
            private_dir(folder.parent)
            folder.mkdir(mode=0o700)
            from secondself.memory.store import MemoryStore  # apsw only when needed

            MemoryStore.open(folder).close()  # one database file per user, from the start
            if personal is not None:
                self.book(name).put(personal)
        return self.info(name)

    def remove_user(self, name: str) -> list[str]:
        """Forget a user: every file of their folder (memories, media, personas)."""
        folder = self.folder(name)
        with self.lock():
            if not folder.is_dir():
                raise UserError("user-unknown", f"no user {name!r} (nothing stored)")
            from secondself.memory.store import forget_user

            return forget_user(folder)

    # --- personas --------------------------------------------------------------------

    def book(self, user: str) -> PersonaBook:
        return PersonaBook(self.folder(user), user, self.defaults)

    def persona(self, user: str, name: str) -> Persona:
        self.require(user)
        return self.book(user).get(name)

    def registry(self) -> Registry:
        return build_registry(
            (user, persona) for user in self.users() for persona in self.book(user).all()
        )

    def create_persona(self, user: str, persona: Persona) -> Persona:
        checked = self.catalog.check(persona)
        with self.lock():
            self.require(user)
            book = self.book(user)
            if book.find(checked.name) is not None:
                raise UserError(
                    "persona-exists",
                    f"persona {checked.name!r} already exists: change it with "
                    f"`secondself persona edit {checked.name}`",
                )
            self._check_wake(user, checked)
            book.put(checked)
        return book.get(checked.name)

    def edit_persona(self, user: str, name: str, change: Callable[[Persona], Persona]) -> Persona:
        """Apply `change` to the persona as it is on disk now (under the lock: no lost edits)."""
        with self.lock():
            self.require(user)
            book = self.book(user)
            current = book.get(name)
            checked = self.catalog.check(replace(change(current), name=current.name))
            self._check_wake(user, checked)
            book.put(checked)
        return book.get(name)

    def delete_persona(self, user: str, name: str) -> Persona:
        with self.lock():
            self.require(user)
            book = self.book(user)
            persona = book.get(name)
            refuse_default(name)
            book.remove(name)
        return persona

    def _check_wake(self, user: str, persona: Persona) -> None:
        if persona.wake_word is None:
            return
        owner = self.registry().owner(persona.wake_word)
        if owner is not None and owner != Route(user, persona.name):
            hint = (
                f" (give it another first: `secondself --user {owner.user} persona edit "
                f"{owner.persona} --wake WORD`)"
            )
            raise UserError(
                "persona-wake-taken",
                f"wake word {persona.wake_word} already wakes persona {owner.persona!r} of "
                f"user {owner.user!r}{hint}",
            )

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One writer at a time across processes (the CLI, the daemon, the web page)."""
        private_dir(self.users_dir)
        fd = os.open(self.users_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock


def refuse_default(name: str) -> None:
    """The default persona can be changed, not deleted: every user always has one."""
    if name == DEFAULT_PERSONA:
        raise UserError(
            "persona-default",
            f"{DEFAULT_PERSONA!r} is the default persona and cannot be deleted "
            f"(change it with `secondself persona edit {DEFAULT_PERSONA}`)",
        )
