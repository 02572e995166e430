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


def _layout_table() -> dict[str, str]:
    """The README's package map: package -> its row (job and modules)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## How the code is laid out", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {row.split("`")[1]: row for row in rows}


def test_readme_layout_names_every_package_and_module() -> None:
    """A newcomer finds any stage in one step: every module is in the package map."""
    table = _layout_table()
    packages = {p.name: p for p in (ROOT / "daemon").iterdir() if (p / "__init__.py").is_file()}
    packages["hw"] = ROOT / "hw"
    assert set(table) == set(packages)
    missing = [
        f"{name}.{module.stem}"
        for name, folder in packages.items()
        for module in folder.glob("*.py")
        if module.stem != "__init__" and f"`{module.stem}`" not in table[name]
    ]
    assert missing == []


def test_readme_layout_names_no_module_that_is_gone() -> None:
    for name, row in _layout_table().items():
        folder = ROOT / ("hw" if name == "hw" else f"daemon/{name}")
        named = [part.split("`")[0] for part in row.split("|")[3].split("`")[1::2]]
        gone = [m for m in named if not any(p.exists() for p in (folder / f"{m}.py", folder / m))]
        assert gone == [], name
