"""What a conversation needs from the user's memory and from the camera (Protocols)."""

from __future__ import annotations

from typing import Protocol

from secondself.answer.prompt import Source
from secondself.memory.model import Kind, Origin


class MemoryPort(Protocol):
    """What a conversation needs from the user's memory (the store adapts to this).

    The memory publishes MemorySaved and MemoryForgotten itself: it is the one place
    every way of saving (voice, CLI, button, import) goes through.
    """

    def recall(self, question: str, k: int) -> list[Source]: ...

    def remember(
        self, text: str, origin: Origin, kind: Kind = Kind.NOTE, corrects: int | None = None
    ) -> int: ...

    def remember_turn(self, question: str, answer: str, source_ids: list[int]) -> None:
        """Keep an answered turn with the memories it drew on (for the conversation log)."""
        ...

    def forget_matching(self, text: str) -> list[int]: ...

    def forget_epoch(self) -> object:
        """A value that changes whenever something may have been forgotten, by any process
        (the page, the CLI, a whole user removed): what a conversation keeps of earlier
        turns may then hold forgotten text. Cheap: read at the start of every turn."""
        ...


class SnapshotPort(Protocol):
    """The camera, as a conversation sees it."""

    def snapshot_for_voice(self) -> str | None:
        """Take a picture (the shutter sound is the reply); a sentence to say if it failed."""
        ...
