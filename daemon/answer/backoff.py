"""When a turn backs off to the cloud model, and what may leave the device when it does.

What may be sent is decided by the persona's `BackoffPolicy`; `backoff_messages` builds
exactly what is sent under it, and `start_backoff` is the turn's "the cloud, else local".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from enum import StrEnum
from typing import Protocol

from secondself.answer.cloud_errors import CloudError
from secondself.answer.prompt import Source, Turn, build_messages
from secondself.core.errors import UserError
from secondself.core.protocols import ChatMessage

# Without memories the cloud is a general assistant: the local instructions speak of "facts
# the user told you", which it does not have.
CLOUD_INSTRUCTIONS = "Answer the question in one or two short sentences; they will be spoken."


class BackoffPolicy(StrEnum):
    """A persona's rule for what may be sent when its personal score is low."""

    NEVER = "never"  # nothing leaves the device
    WITHOUT_MEMORIES = "without-memories"  # the question only
    WITH_MEMORIES = "with-memories"  # the question, the retrieved memories, recent turns

    @classmethod
    def parse(cls, text: str) -> BackoffPolicy:
        try:
            return cls(text)
        except ValueError:
            choices = ", ".join(p.value for p in cls)
            raise UserError(
                "bad-backoff", f"backoff policy must be one of {choices}; got {text!r}"
            ) from None


def backoff_messages(
    policy: BackoffPolicy | str,
    question: str,
    sources: Sequence[Source] = (),
    history: Sequence[Turn] = (),
    directives: str = "",
) -> list[ChatMessage]:
    """Exactly the messages sent to the cloud under `policy` ([] under `never`).

    `without-memories` sends no earlier turns and no persona directives either: past answers
    quote memories, and directives are the user's own words.
    """
    match BackoffPolicy(policy):
        case BackoffPolicy.NEVER:
            return []
        case BackoffPolicy.WITHOUT_MEMORIES:
            return [ChatMessage("system", CLOUD_INSTRUCTIONS), ChatMessage("user", question)]
        case BackoffPolicy.WITH_MEMORIES:
            return build_messages(question, sources, history, directives)


class BackoffModel(Protocol):
    """A model a turn may back off to (the cloud client)."""

    def backoff(
        self,
        policy: BackoffPolicy | str,
        question: str,
        sources: Sequence[Source] = (),
        history: Sequence[Turn] = (),
        directives: str = "",
        max_tokens: int = 96,
    ) -> Iterator[str]:
        """Its answer to what `policy` allows to be sent; CloudError when it has none."""
        ...


def start_backoff(
    cloud: BackoffModel | None,
    policy: BackoffPolicy | str,
    question: str,
    sources: Sequence[Source] = (),
    history: Sequence[Turn] = (),
    directives: str = "",
    max_tokens: int = 96,
) -> Iterator[str] | None:
    """The cloud's answer once its first piece has arrived, so the caller can commit to it;
    None when the cloud is off, the policy is `never`, or the cloud failed before its first
    word (CloudFailed is published): then answer locally. Blocking: call it in a worker
    thread. The iterator never raises CloudError: a failure midway ends the answer there."""
    if cloud is None or BackoffPolicy(policy) is BackoffPolicy.NEVER:
        return None
    pieces = cloud.backoff(policy, question, sources, history, directives, max_tokens)
    try:
        first = next(pieces)
    except CloudError:
        return None
    return _continue(first, pieces)


def _continue(first: str, pieces: Iterator[str]) -> Iterator[str]:
    yield first
    try:
        yield from pieces
    except CloudError:
        return  # cut short (CloudFailed was published): what was said stands
