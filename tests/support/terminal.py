"""Running the CLI with a pseudo-terminal as its stdin (the confirmation prompts)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path


def on_a_terminal(home: Path, answer: bytes, *args: str) -> tuple[int, str]:
    """Run `secondself --home HOME ARGS` on a terminal, type `answer`; (exit code, output)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "secondself", "--home", str(home), *args],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    os.close(follower)
    os.write(leader, answer)
    out, _ = proc.communicate(timeout=60)
    os.close(leader)
    return proc.returncode, out.decode()
