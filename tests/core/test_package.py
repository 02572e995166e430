"""The package as users install it: `pip install .` gives a working `secondself` command,
with `secondself` and `secondself.hw` inside and no top-level `daemon` or `hw`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(out), str(ROOT)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return next(out.glob("secondself-*.whl"))


def test_wheel_holds_secondself_and_hw_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"secondself"}
    assert "secondself/hw/__init__.py" in names
    assert "secondself/core/default_config.toml" in names
    assert "secondself/py.typed" in names
    for page in ("index.html", "app.js", "style.css"):  # the web page is package data
        assert f"secondself/web/static/{page}" in names


def test_pip_install_gives_a_working_command(wheel: Path, tmp_path: Path) -> None:
    """A fresh venv; its dependencies come from the project venv (same pinned versions)
    through a .pth file, so the test installs only the wheel itself, offline."""
    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(target)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(target), "platbase": str(target)}))
    deps = sysconfig.get_path("purelib")
    (site / "project-deps.pth").write_text(deps + "\n")
    python = target / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    command = target / "bin" / "secondself"
    env = {**os.environ, "SECONDSELF_HOME": str(tmp_path / "home")}
    env.pop("PYTHONPATH", None)
    version = subprocess.run([str(command), "--version"], capture_output=True, text=True, env=env)
    assert version.returncode == 0 and "secondself 0.1.0" in version.stdout
    config = subprocess.run(
        [str(command), "config", "--json"], capture_output=True, text=True, env=env
    )
    assert json.loads(config.stdout)["wake"]["model"] == "hey_jarvis"
    # It really runs the installed copy, not the source tree.
    where = subprocess.run(
        [str(python), "-c", "import secondself; print(secondself.__file__)"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert str(target) in where.stdout
    bad = subprocess.run(
        [str(command), "--config", str(tmp_path / "missing.toml"), "config"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
