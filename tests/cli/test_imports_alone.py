"""Every command module imports on its own, in a fresh process (no import cycle through the
registry), as a script or a test that needs one command does."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import secondself.cli

pytestmark = pytest.mark.unit

MODULES = sorted(m.name for m in pkgutil.iter_modules(secondself.cli.__path__))


def test_every_command_module_is_found() -> None:
    assert {"main", "registry", "ask", "memories", "run"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_a_command_module_imports_alone(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import secondself.cli.{module}"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
