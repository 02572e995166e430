"""What a memory is: the record, its kinds, sources and visibility, and search results."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    NOTE = "note"
    VOICE_NOTE = "voice_note"
    IMAGE = "image"
    CONVERSATION_TURN = "conversation_turn"
    CORRECTION = "correction"
    DOCUMENT_CHUNK = "document_chunk"


class Visibility(StrEnum):
    PRIVATE = "private"  # only the persona that saved it sees it
    SHARED = "shared"  # every persona of the user sees it


class Origin(StrEnum):
    """Where a memory came from."""

    VOICE = "voice"
    BUTTON = "button"
    CAMERA = "camera"
    IMPORT = "import"
    WEB = "web"
    CLI = "cli"
    MCP = "mcp"  # an MCP client (`secondself mcp`, the daemon's /mcp)


@dataclass(frozen=True, slots=True)
class Happened:
    """When what a memory tells of happened: a time phrase of its text ("yesterday") placed
    against the moment it was said, as [start, end) in unix seconds. The text is unchanged."""

    phrase: str  # the words as found, lower case: "yesterday", "last friday", "in may 2019"
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Memory:
    id: int
    kind: Kind
    text: str
    persona: str
    visibility: Visibility
    created: float  # unix seconds (UTC)
    valid_from: float
    valid_to: float | None  # None: still the current truth
    source: Origin
    provenance: str = ""  # "notes/dog.md:12", a URL, a device name ...
    media: str | None = None  # path relative to the user folder
    corrects: int | None = None  # the memory this correction overrides
    superseded_by: int | None = None
    happened: Happened | None = None  # None: the text names no time (its own day is its time)
    thread: str | None = None  # the conversation (one sitting of it) this is a turn of
    seq: int | None = None  # its position in the thread

    @property
    def current(self) -> bool:
        return self.valid_to is None

    def visible_to(self, persona: str) -> bool:
        """The persona's own memories and the user's shared ones: `filters.condition`'s rule."""
        return self.persona == persona or self.visibility is Visibility.SHARED


@dataclass(frozen=True, slots=True)
class MediaInput:
    """Bytes to store content-addressed next to the database (an image, a voice clip)."""

    data: bytes
    ext: str  # without the dot: "jpg", "png", "wav"


@dataclass(frozen=True, slots=True)
class NewMemory:
    """A memory to be saved; the store fills in the id and, when missing, the times."""

    text: str
    kind: Kind = Kind.NOTE
    persona: str = "personal"
    visibility: Visibility = Visibility.PRIVATE
    source: Origin = Origin.CLI
    provenance: str = ""
    created: float | None = None
    valid_from: float | None = None
    valid_to: float | None = None
    media: MediaInput | None = None
    corrects: int | None = None
    # Imports of exported archives keep their own supersede links; live input is checked.
    check_supersede: bool = True
    # A turn of a conversation: the thread it belongs to and its position there (None:
    # after the thread's last turn). Its neighbours give it context (`context.py`).
    thread: str | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Scores:
    similarity: float  # cosine similarity of query and memory (exact, from the stored vector)
    vector_rank: int | None  # 1-based rank in the vector candidates, None if not among them
    bm25_rank: int | None  # 1-based rank in the FTS5 BM25 candidates, None if not matched
    bm25: float | None  # FTS5 bm25() value (lower is better), None if not matched
    fused: float  # the final ranking score (higher is better)


@dataclass(frozen=True, slots=True)
class SearchResult:
    memory: Memory
    scores: Scores


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Which memories a search may return. The persona filter is always applied in SQL."""

    persona: str
    kinds: tuple[Kind, ...] = ()  # () = every kind
    visibility: Visibility | None = None  # None = private (own) and shared
    since: float | None = None  # created >= since
    until: float | None = None  # created < until
    include_superseded: bool = False  # True answers "what was ..." questions


@dataclass(frozen=True, slots=True)
class ForgetReport:
    ids: tuple[int, ...]
    texts: tuple[str, ...]
    media_removed: tuple[str, ...] = ()
    turns_removed: tuple[int, ...] = field(default=())
