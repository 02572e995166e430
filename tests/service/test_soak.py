"""A short soak (scripts/soak.py): a few spoken conversations through the real daemon with
no errors, no file descriptor growth and a steady RSS. The 300-conversation run is
`.venv/bin/python scripts/soak.py`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SOAK = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"


def test_short_soak(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SOAK), "--conversations", "6", "--progress", "0", "--json",
         "--home", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    summary = "\n".join(done.stdout.splitlines()[:-1])
    assert done.returncode == 0, summary + done.stderr[-2000:]
    assert result["failures"] == []
    assert result["replied"] == 6
    assert result["stage_errors"] == 0 and result["error_log_lines"] == 0
    assert result["fds_end"] <= result["fds_baseline"]
    assert result["exit_code"] == 0
    assert result["watchdog_pings"] > 0
    assert result["metrics"]["secondself_wakes_total"] == 6
    assert "conversations" in summary and "PASS" in summary
