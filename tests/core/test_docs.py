"""The README's configuration reference is the shipped default file, line for line."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.unit


def test_readme_lists_every_default_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    defaults = (ROOT / "daemon" / "core" / "default_config.toml").read_text().splitlines()
    settings = [line for line in defaults if line and not line.startswith("#")]
    missing = [line for line in settings if line not in readme]
    assert missing == []


def test_readme_shows_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
