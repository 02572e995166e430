"""`secondself forget` on a terminal asks first; off a terminal it just does it. Bad input
(an id no memory can have, text that is not Unicode) is one line, exit 2, and changes nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from secondself.memory.store import MemoryStore
from tests.memory.test_support import HashEmbedder
from tests.support.terminal import on_a_terminal

pytestmark = pytest.mark.unit


def _seed(home: Path) -> list[int]:
    with MemoryStore.open(home / "users" / "default", HashEmbedder()) as store:
        return [store.remember(t).id for t in ("the shed key is blue", "the gate code is 4411")]


def test_forget_asks_on_a_terminal_and_no_keeps_everything(tmp_path: Path) -> None:
    ids = _seed(tmp_path)
    rc, out = on_a_terminal(tmp_path, b"n\n", "forget", "--match", "gate code")
    assert rc == 1 and "[y/N]" in out and "nothing forgotten" in out
    assert f"#{ids[1]}" in out  # it showed what it would remove
    with MemoryStore.open(tmp_path / "users" / "default") as store:
        assert store.count() == 2


def test_forget_yes_on_a_terminal_removes_and_reports(tmp_path: Path) -> None:
    ids = _seed(tmp_path)
    rc, out = on_a_terminal(tmp_path, b"y\n", "forget", "--match", "gate code")
    assert rc == 0 and f"forgot 1 memories: #{ids[1]}" in out
    with MemoryStore.open(tmp_path / "users" / "default") as store:
        assert [m.id for m in store.iterate()] == [ids[0]]
    assert b"4411" not in b"".join(
        p.read_bytes() for p in (tmp_path / "users" / "default").rglob("*") if p.is_file()
    )


def test_forget_without_a_terminal_needs_no_answer(tmp_path: Path) -> None:
    ids = _seed(tmp_path)
    r = subprocess.run(
        [sys.executable, "-m", "secondself", "--home", str(tmp_path), "forget", str(ids[0])],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and f"#{ids[0]}" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "secondself", "--home", str(tmp_path), "forget", "--since", "soon"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "use an ISO time" in r.stderr and r.stderr.count("\n") == 1


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "secondself", "--home", str(home), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_memories_lists_a_time_saved_before_imports_checked_times(tmp_path: Path) -> None:
    with MemoryStore.open(tmp_path / "users" / "default", HashEmbedder()) as store:
        store.remember("imported with created: Infinity", created=float("inf"))
        store.remember("the gate code is 4411", created=1.7e9)
    r = _cli(tmp_path, "memories")
    assert r.returncode == 0, r.stderr
    assert "????-??-?? ??:??" in r.stdout and "imported with created: Infinity" in r.stdout
    assert "the gate code is 4411" in r.stdout


def test_forget_since_a_time_no_clock_can_show_is_one_line(tmp_path: Path) -> None:
    _seed(tmp_path)
    for since in ("99999999d", "0001-01-01"):
        r = _cli(tmp_path, "forget", "--since", since)
        assert r.returncode == 2 and "use an ISO time" in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1


@pytest.mark.parametrize("given", ["99999999999999999999999", "9223372036854775808", "-1", "abc"])
def test_forget_an_id_no_memory_can_have_is_one_line_and_changes_nothing(
    tmp_path: Path, given: str
) -> None:
    ids = _seed(tmp_path)
    db = tmp_path / "users" / "default" / "memory.db"
    before = db.read_bytes()
    r = subprocess.run(
        [sys.executable, "-m", "secondself", "--home", str(tmp_path), "forget", given, "--yes"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("secondself: ") and r.stderr.count("\n") == 1
    assert "Traceback" not in r.stderr and given in r.stderr
    assert db.read_bytes() == before
    with MemoryStore.open(tmp_path / "users" / "default") as store:
        assert [m.id for m in store.iterate()] == ids


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (["memories", "--limit", "99999999999999999999"], "a whole number from 1 to 1,000,000"),
        (["memories", "--search", "gate", "--limit", "0"], "a whole number from 1 to 1,000,000"),
        (["remember", "--kind", "correction", "--corrects", "99999999999999999999", "it is 1234"],
         "no memory with id 99999999999999999999"),
    ],
)  # fmt: skip
def test_a_number_sqlite_cannot_hold_is_one_line_and_changes_nothing(
    tmp_path: Path, command: list[str], said: str
) -> None:
    """They were OverflowError tracebacks (found by tests/adversarial)."""
    ids = _seed(tmp_path)
    r = _cli(tmp_path, *command)
    assert r.returncode == 2 and r.stdout == "", r.stderr
    assert r.stderr.startswith("secondself: ") and r.stderr.count("\n") == 1
    assert said in r.stderr and "Traceback" not in r.stderr
    with MemoryStore.open(tmp_path / "users" / "default") as store:
        assert [m.id for m in store.iterate()] == ids


@pytest.mark.parametrize(
    ("command", "what"),
    [
        (["remember"], "memory"),
        (["memories", "--search"], "search"),
        (["correct"], "correction"),
        (["ask"], "question"),
    ],
)
def test_text_that_is_not_unicode_is_one_line_and_changes_nothing(
    tmp_path: Path, command: list[str], what: str
) -> None:
    ids = _seed(tmp_path)
    db = tmp_path / "users" / "default" / "memory.db"
    before = sorted((p.name, p.read_bytes()) for p in db.parent.iterdir())
    not_utf8 = b"my pin is \xed\xa0\x80"  # a UTF-16 surrogate's bytes: Python sees "\udced..."
    r = subprocess.run(
        [sys.executable, "-m", "secondself", "--home", str(tmp_path), *command, not_utf8],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == (
        f"secondself: the {what} text is not valid Unicode (a lone surrogate at character 10)\n"
    )
    assert sorted((p.name, p.read_bytes()) for p in db.parent.iterdir()) == before
    with MemoryStore.open(db.parent) as store:
        assert [m.id for m in store.iterate()] == ids
