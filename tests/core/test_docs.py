"""The README's configuration reference is the shipped default file, line for line; and
docs/security.md counts the adversarial suite's attacks as the suite holds them."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import Counter
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


def adversarial_cases() -> Counter[str]:
    """How many cases each adversarial test has, as pytest collects them (nothing runs)."""
    found = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "tests/adversarial"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert found.returncode == 0, found.stdout[-3000:]
    ids = [line for line in found.stdout.splitlines() if "::" in line]
    return Counter(line.split("::")[1].partition("[")[0] for line in ids)


def known_gaps() -> set[str]:
    """The adversarial tests marked xfail: attacks that do not hold yet."""
    gaps = set()
    for path in (ROOT / "tests" / "adversarial").glob("test_*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and any(
                "xfail" in ast.unparse(d) for d in node.decorator_list
            ):
                gaps.add(node.name)
    return gaps


def test_security_md_counts_every_attack_tried_and_held() -> None:
    doc = (ROOT / "docs" / "security.md").read_text()
    rows = re.findall(r"^\|.*\| `(test_\w+)` \| [^|]+ \| (\d+) \| (\d+) \|$", doc, re.M)
    table = {name: (int(tried), int(held)) for name, tried, held in rows}
    cases, gaps = adversarial_cases(), known_gaps()
    expected = {name: (n, 0 if name in gaps else n) for name, n in cases.items()}
    assert table == expected  # a row per test: its cases, and how many hold
    tried, held = sum(cases.values()), sum(h for _, h in expected.values())
    assert f"| **all** | | | **{tried}** | **{held}** |" in doc
    assert f"**{tried} attacks tried, {held} held.**" in doc
    assert f"`{held} passed, {tried - held} xfailed`" in doc
