"""`secondself snapshot` and `secondself correct`, through the real CLI, store and models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hw.test_camera import write_video

pytestmark = pytest.mark.e2e


def cli(home: Path, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--config", str(config)] if config else []
    env = {**os.environ, "SECONDSELF_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "secondself", *extra, *args],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip


def camera_config(tmp_path: Path, source: Path) -> Path:
    config = tmp_path / "camera.toml"
    config.write_text(f'[camera]\nenabled = true\nsource = "{source}"\nwarmup_frames = 1\n')
    return config


def test_snapshot_saves_a_searchable_photo(tmp_path: Path) -> None:
    video = write_video(tmp_path / "camera.avi", 12)
    config = camera_config(tmp_path, video)
    done = cli(tmp_path, "snapshot", "--caption", "the garden in the snow", "--json", config=config)
    assert done.returncode == 0, done.stderr
    saved = json.loads(done.stdout)
    photo = tmp_path / "users" / "default" / saved["media"]
    assert photo.read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG
    found = cli(tmp_path, "memories", "--search", "snowy garden", "--json")
    assert saved["id"] in [m["id"] for m in json.loads(found.stdout)]


def test_snapshot_without_a_camera_is_one_clear_line_and_saves_nothing(tmp_path: Path) -> None:
    config = camera_config(tmp_path, tmp_path / "no-such-camera.avi")
    done = cli(tmp_path, "snapshot", config=config)
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1 and "camera" in done.stderr
    assert not (tmp_path / "users" / "default" / "memory.db").exists()


def test_correct_the_last_answer_and_the_next_answer_uses_it(tmp_path: Path) -> None:
    assert cli(tmp_path, "remember", "my dog is called Biscuit").returncode == 0
    first = json.loads(cli(tmp_path, "ask", "--json", "What is my dog called?").stdout)
    assert "Biscuit" in first["answer"]
    corrected = cli(tmp_path, "correct", "Rex", "--json")
    assert corrected.returncode == 0, corrected.stderr
    assert json.loads(corrected.stdout)["text"] == "my dog is called Rex"
    again = json.loads(cli(tmp_path, "ask", "--json", "What is my dog's name?").stdout)
    assert "Rex" in again["answer"] and "Biscuit" not in again["answer"]


def test_correct_with_nothing_to_correct_is_a_user_error(tmp_path: Path) -> None:
    done = cli(tmp_path, "correct", "Rex")
    assert done.returncode == 2 and "no answer to correct" in done.stderr
