"""Everything that happens, as one frozen, typed event class per thing.

Stages publish these on the bus; logs, LEDs, metrics, the web page and tests subscribe.
No stage calls the UI. Every event carries `t`, a timestamp on the one monotonic clock.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import Any, ClassVar

from secondself.core.clock import now


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    t: float = field(default_factory=now)

    # Events with `text` may carry what the user said; loggers redact it above DEBUG.
    private_fields: ClassVar[tuple[str, ...]] = ()

    @property
    def name(self) -> str:
        return type(self).__name__

    def to_dict(self, redact: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {"event": self.name}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if redact and f.name in self.private_fields:
                value = f"<{len(value)} chars>" if isinstance(value, str) else "<redacted>"
            data[f.name] = value
        return data


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from `to_dict` output (used to read event logs back)."""
    fields = dict(data)
    cls = event_types()[fields.pop("event")]
    return cls(**fields)


def event_types() -> dict[str, type[Event]]:
    """Every concrete event class by name (slotted dataclasses rule out __init_subclass__)."""
    found: dict[str, type[Event]] = {}
    pending = list(Event.__subclasses__())
    while pending:
        cls = pending.pop()
        # @dataclass(slots=True) replaces each class; keep only the one the module exports.
        if getattr(sys.modules[cls.__module__], cls.__name__, None) is cls:
            found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found


# --- life cycle -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelLoaded(Event):
    model: str
    role: str
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonReady(Event):
    seconds: float
    models: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonStopping(Event):
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StageError(Event):
    stage: str
    code: str
    message: str


# --- the voice path --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class WakeDetected(Event):
    model: str
    score: float
    user: str = ""  # whose persona the wake word calls ("" where there is only one)
    persona: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Listening(Event):
    follow_up: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechEnded(Event):
    duration_s: float
    reason: str  # "silence" | "max-length"


@dataclass(frozen=True, slots=True, kw_only=True)
class NothingHeard(Event):
    waited_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Transcript(Event):
    text: str
    duration_s: float
    seconds: float
    private_fields: ClassVar[tuple[str, ...]] = ("text",)


@dataclass(frozen=True, slots=True, kw_only=True)
class IntentRecognized(Event):
    intent: str
    argument: str = ""
    private_fields: ClassVar[tuple[str, ...]] = ("argument",)


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoriesRetrieved(Event):
    ids: tuple[int, ...]
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerToken(Event):
    text: str
    private_fields: ClassVar[tuple[str, ...]] = ("text",)


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerDone(Event):
    text: str
    backend: str
    first_token_s: float
    seconds: float
    tokens: int
    private_fields: ClassVar[tuple[str, ...]] = ("text",)


@dataclass(frozen=True, slots=True, kw_only=True)
class Speaking(Event):
    sentence: str
    synth_s: float
    private_fields: ClassVar[tuple[str, ...]] = ("sentence",)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeakingDone(Event):
    interrupted: bool = False


# --- memory ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MemorySaved(Event):
    memory_id: int
    kind: str
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryForgotten(Event):
    memory_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotTaken(Event):
    path: str
    memory_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ButtonPressed(Event):
    action: str  # "short" | "long" | "double"


# --- device: button, camera, LED -------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MicMuted(Event):
    muted: bool  # True: the wake word and follow-ups are ignored until unmuted


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceMemoStarted(Event):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceMemoEnded(Event):
    duration_s: float  # speech recorded (0 when nothing was heard)
    reason: str  # "silence" | "max-length" | "button" | "nothing-heard" | "cancelled"


# --- model pool and cloud backoff -------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelLoading(Event):
    """The model pool starts loading an answer model; ModelLoaded follows with the seconds."""

    model: str
    role: str
    persona: str = ""  # whose turn asked for it
    estimate_mb: int = 0  # RAM it is expected to take (model_pool.estimate_ram_mb)
    budget_mb: int = 0  # llm.ram_budget_mb (0 = no limit)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelUnloaded(Event):
    model: str
    role: str
    reason: str  # "budget" (room for another model) | "close"
    freed_mb: int  # the estimate given back
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class BackoffUsed(Event):
    """A question went to the cloud model: under which policy, and how much left the device
    (counts only: what was sent is never in an event)."""

    policy: str  # "without-memories" | "with-memories"
    model: str
    memories_sent: int
    chars_sent: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CloudFailed(Event):
    """The cloud model did not answer (the turn falls back to the local answer)."""

    model: str
    code: str  # cloud-unreachable | cloud-timeout | cloud-http | cloud-auth | ...
    message: str  # never holds the API key
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CloudBreakerChanged(Event):
    state: str  # "closed" | "open" | "half-open"
