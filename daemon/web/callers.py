"""Who calls the MCP tools: one user, seen as one persona, with one scope.

Scopes are levels, each with every one before it: `read` (search, the personas), `ask`
(answers), `remember` (remember and forget), `admin` (every persona of the user). With stdio
the process owner is the owner (admin): whoever can start `secondself mcp` can read the data
home anyway. Over HTTP every request that reaches `/mcp` holds the install's token, so it is
the owner too (`owner`), until scoped tokens name other callers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from secondself.core.errors import UserError
from secondself.household.personas import DEFAULT_PERSONA

T = TypeVar("T")
SCOPES = ("read", "ask", "remember", "admin")


@dataclass(frozen=True, slots=True)
class Caller:
    """Whose memories a request reaches, seen as which persona, and what it may do."""

    user: str
    persona: str
    scope: str = "admin"

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"unknown scope {self.scope!r}")

    @property
    def sees_every_persona(self) -> bool:
        return self.scope == "admin"

    def require(self, needed: str) -> None:
        """UserError unless this caller's scope includes `needed`."""
        if SCOPES.index(self.scope) < SCOPES.index(needed):
            allowed = " or ".join(repr(s) for s in SCOPES[SCOPES.index(needed) :])
            raise UserError(
                "scope-refused", f"this needs the {allowed} scope; this caller has {self.scope!r}"
            )


class Run(Protocol):
    """Runs blocking work (files, SQLite, embedding) off the event loop."""

    def __call__(self, work: Callable[[], T], /) -> Awaitable[T]: ...


class Answers(Protocol):
    """A persona's memory-grounded answer, as `secondself ask --json` reports it (the
    answer, personal score, its parts and sources)."""

    async def ask(self, caller: Caller, question: str) -> dict[str, Any]: ...


def owner(user: str) -> Callable[[Mapping[str, str]], Caller]:
    """The caller of every request that holds the install's token: the device's owner."""
    caller = Caller(user, DEFAULT_PERSONA, "admin")
    return lambda headers: caller
