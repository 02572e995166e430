"""Which wake word calls whose persona: one registry over every user of the device."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from secondself.household.personas import Persona


class Route(NamedTuple):
    user: str
    persona: str


@dataclass(frozen=True, slots=True)
class Registry:
    """Wake word -> (user, persona), for every user of the device."""

    routes: Mapping[str, Route] = field(default_factory=dict)
    conflicts: tuple[str, ...] = ()  # claims that lost (a config change, a hand-edited file)

    def wake_words(self) -> tuple[str, ...]:
        """The wake words the daemon listens for."""
        return tuple(sorted(self.routes))

    def owner(self, wake_word: str) -> Route | None:
        return self.routes.get(wake_word)


def route(registry: Registry, wake_word: str) -> Route | None:
    """Whose persona a detected wake word wakes (None: no one's)."""
    return registry.routes.get(wake_word)


def build_registry(personas: Iterable[tuple[str, Persona]]) -> Registry:
    """The registry over (user, persona) pairs. Written personas win over the implicit
    default (whose wake word comes from the config and may change under them); among
    equals, the first user in name order wins and the rest are reported as conflicts."""
    ordered = sorted(personas, key=lambda up: (up[1].implicit, up[0], up[1].name))
    routes: dict[str, Route] = {}
    conflicts: list[str] = []
    for user, persona in ordered:
        if persona.wake_word is None:
            continue
        if (owner := routes.get(persona.wake_word)) is not None:
            conflicts.append(
                f"wake word {persona.wake_word} of persona {persona.name} (user {user}) is "
                f"already the wake word of persona {owner.persona} (user {owner.user})"
            )
            continue
        routes[persona.wake_word] = Route(user, persona.name)
    return Registry(routes, tuple(conflicts))
