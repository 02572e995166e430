"""A bad argument is one line on stderr and exit 2, as any other mistake is, without
argparse's usage (found by tests/fuzz)."""

from __future__ import annotations

from pathlib import Path

import pytest

from secondself.cli.main import main

pytestmark = pytest.mark.unit


def run(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--home", str(home), *args])
    out, err = capsys.readouterr()
    return code, out, err


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
