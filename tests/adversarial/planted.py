"""What the attacks are after: secrets planted in persona "work" and in user "anna" before
the daemon starts, the owner's own view of every database to tell that nothing changed, and
byte scans for the secrets in replies, output and files.

User "default" has two personas: "personal" (the attacker's side, wake word hey_jarvis) and
"work" (wake word alexa), whose private memories and turns "personal" must never see or
touch. User "anna" (wake word hey_mycroft) is another person on the same device.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import apsw

from tests.adversarial.daemon import Run, cli
from tests.memory.test_support import tiny_jpeg

DOG = "My dog is called Biscuit"
DOG_TURN = "Q: What is my dog called?\nA: Your dog is called Biscuit."
WIFI = "The office wifi network is called Bluebird"  # work's, shared with every persona
WORK_SECRETS = (
    "Project Halcyon will acquire Quillfeather Robotics for 48 million dollars",
    "The server room door code is 7319 and the alarm word is marzipan",
)
WORK_TURN = "Q: What is the alarm word?\nA: The alarm word is marzipan."
ANNA_SECRET = "Anna's bike lock code is 9182 and her bank is Zebrafinch Credit"
ANNA_TURN = "Q: What is my bike lock code?\nA: Your bike lock code is 9182."
# Words found only in what one side planted: none may reach the other.
WORK_WORDS = ("halcyon", "quillfeather", "7319", "marzipan")
ANNA_WORDS = ("9182", "zebrafinch")
GARDEN = "the garden in June"  # personal's photo
ANNA_PHOTO = "anna's allotment by the river"


def jsonl(records: Iterable[dict[str, object]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def _default_records() -> list[dict[str, object]]:
    """Personal's fact and the turn that quoted it; work's secrets, its private turn, and
    one memory it shares."""
    work = [{"id": 10 + n, "text": t, "persona": "work"} for n, t in enumerate(WORK_SECRETS)]
    return [
        {"id": 1, "text": DOG},
        {"id": 2, "text": DOG_TURN, "kind": "conversation_turn", "quotes": [1]},
        *work,
        {"id": 20, "text": WORK_TURN, "kind": "conversation_turn", "persona": "work",
         "quotes": [11]},
        {"id": 21, "text": WIFI, "persona": "work", "visibility": "shared"},
    ]  # fmt: skip


def _anna_records() -> list[dict[str, object]]:
    return [
        {"id": 1, "text": ANNA_SECRET},
        {"id": 2, "text": ANNA_TURN, "kind": "conversation_turn", "quotes": [1]},
    ]


def ok(run: Run) -> Run:
    assert run.code == 0, (run.out, run.err)
    return run


def plant(data: Path, scratch: Path) -> None:
    """The household the attacks are tried on, made through the CLI as its owner would."""
    scratch.mkdir(parents=True, exist_ok=True)
    ok(cli(data, "persona", "create", "work", "--wake", "alexa"))
    ok(cli(data, "user", "add", "anna", "--wake", "hey_mycroft"))
    for user, records in (("default", _default_records()), ("anna", _anna_records())):
        path = scratch / f"{user}.jsonl"
        path.write_text(jsonl(records))
        ok(cli(data, "--user", user, "import", str(path)))
    for user, caption in (("default", GARDEN), ("anna", ANNA_PHOTO)):
        photo = scratch / f"{user}.jpg"
        photo.write_bytes(tiny_jpeg(payload=caption.encode()))
        ok(cli(data, "--user", user, "remember", "--image", str(photo), "--caption", caption))


def copy_household(household: Path, home: Path) -> Path:
    """A module's own copy of the planted household, as `home/data` (where its daemon
    looks): planted once for the suite, since every command of it loads the embedder."""
    return Path(shutil.copytree(household, home / "data", symlinks=True))


# --- the owner's view ------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    id: int
    kind: str
    text: str
    persona: str
    visibility: str
    media: str | None


def rows(data: Path, user: str = "default") -> list[Row]:
    """Every memory of `user`, read from the database file beside the daemon."""
    path = data / "users" / user / "memory.db"
    if not path.exists():
        return []
    db = apsw.Connection(str(path))
    try:
        found = db.execute(
            "SELECT id, kind, text, persona, visibility, media FROM memories ORDER BY id"
        )
        return [Row(*row) for row in found]
    finally:
        db.close()


def find(data: Path, text: str, user: str = "default") -> Row:
    """The one memory of `user` whose text is `text`."""
    (row,) = [r for r in rows(data, user) if r.text == text]
    return row


def state(data: Path) -> tuple[object, ...]:
    """All the owner would see changed: every user folder, persona file and memory row."""
    users = sorted(p.name for p in (data / "users").iterdir() if not p.name.startswith("."))
    personas = [
        (u, p.read_text()) for u in users if (p := data / "users" / u / "personas.json").exists()
    ]
    return (users, personas, [(u, full_rows(data, u)) for u in users])


def full_rows(data: Path, user: str) -> list[tuple[object, ...]]:
    """Every column of every memory and source link of `user`."""
    path = data / "users" / user / "memory.db"
    if not path.exists():
        return []
    db = apsw.Connection(str(path))
    try:
        memories = db.execute("SELECT * FROM memories ORDER BY id").fetchall()
        links = db.execute("SELECT * FROM memory_sources ORDER BY 1, 2").fetchall()
        return [*memories, *links]
    finally:
        db.close()


# --- scans -----------------------------------------------------------------------------------


def leaked(data: bytes | str, words: Sequence[str]) -> list[str]:
    """The secret words `data` holds (any case)."""
    text = (data.decode("utf-8", "replace") if isinstance(data, bytes) else data).lower()
    return [w for w in words if w in text]


def files_holding(root: Path, words: Sequence[str]) -> list[str]:
    """Every file under `root` holding any of `words` (any case): the byte scan."""
    hits = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and leaked(path.read_bytes(), words):
            hits.append(str(path.relative_to(root)))
    return hits
