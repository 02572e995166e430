"""Whatever goes wrong, `secondself` says it in one line (found by tests/fuzz): a bad
argument is exit 2 without argparse's usage; a message quoting a name with a line break or
a terminal escape stays one line; a file the system refuses is exit 1, not a traceback;
and a `--match` or `--limit` no store can take is refused or bounded, changing nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from secondself.cli.main import main
from secondself.memory.store import MemoryStore
from tests.memory.test_support import HashEmbedder

pytestmark = pytest.mark.unit


def run(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--home", str(home), *args])
    out, err = capsys.readouterr()
    return code, out, err


def seed(home: Path) -> bytes:
    with MemoryStore.open(home / "users" / "default", HashEmbedder()) as store:
        store.remember("the gate code is 4411")
    return (home / "users" / "default" / "memory.db").read_bytes()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["rmember", "x"], "argument COMMAND: invalid choice: 'rmember' (choose from "),
        (["remember", "--kind", "fact"], "argument --kind: invalid choice: 'fact' (choose from "),
        (["persona"], "the following arguments are required: ACTION"),
        (["memories", "--limit", "many"], "argument --limit: invalid int value: 'many'"),
    ],
)
def test_a_bad_argument_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    code, out, err = run(capsys, tmp_path, *args)
    assert code == 2 and out == ""
    assert err.startswith(f"secondself: {said}") and err.count("\n") == 1, err
    assert "usage:" not in err


def test_a_message_quoting_a_line_break_or_an_escape_stays_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "no\nsuch\x1b[2J.jpg"
    code, _, err = run(capsys, tmp_path / "home", "remember", "--image", str(photo))
    assert code == 2
    assert (
        err
        == f"secondself: cannot read {tmp_path}/no\\nsuch\\x1b[2J.jpg: No such file or directory\n"
    )


def test_a_file_the_system_refuses_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, tmp_path / "home", "--events", str(tmp_path), "config")
    assert code == 1 and out == ""
    assert err == f"secondself: Is a directory: {tmp_path}\n"


def test_a_match_that_is_not_unicode_is_refused_changing_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = seed(tmp_path)
    not_utf8 = os.fsdecode(b"gate \xed\xa0\x80")  # as Python gets such bytes of a command line
    code, _, err = run(capsys, tmp_path, "forget", "--match", not_utf8, "--yes")
    assert code == 2
    assert (
        err
        == "secondself: the --match text is not valid Unicode (a lone surrogate at character 5)\n"
    )
    assert (tmp_path / "users" / "default" / "memory.db").read_bytes() == before


def test_a_limit_past_what_sqlite_counts_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(tmp_path)
    code, out, err = run(capsys, tmp_path, "memories", "--limit", str(2**64))
    assert code == 2 and out == "" and err.count("\n") == 1 and "--limit" in err
