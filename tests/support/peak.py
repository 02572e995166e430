"""A command's own peak memory, measured through a small launcher process.

Linux carries a process's peak resident size across fork and exec, so a child forked
straight from the test process reports at least the test process's own peak (hundreds of
MB once a model was loaded in it), whatever the child used. Forked from a fresh, small
Python instead, the command's peak is its own give or take that Python's ~10 MB.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence

# Runs argv[1:] with its stdout dropped, waits for it, prints its peak RSS in bytes.
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss * 1024)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_with_peak(command: Sequence[str], timeout: float = 120.0) -> tuple[int, str, int]:
    """(exit code, stderr, peak RSS in bytes) of `command`; killed after `timeout` s."""
    launcher = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, *command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a group of its own: a timeout kills the command too
    )
    try:
        out, err = launcher.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.communicate()
        raise
    return launcher.returncode, err, int(out.strip() or 0)
