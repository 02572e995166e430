"""Native libraries that clash when loaded in the wrong order, checked in fresh processes."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "order",
    [
        "import secondself.memory.store; import onnxruntime; import llama_cpp",
        "import secondself.service.run; import secondself.service.loading; import onnxruntime",
        "import secondself.cli.main; import secondself.memory.graph; import onnxruntime",
    ],
)
def test_modules_load_together_in_any_order(order: str) -> None:
    done = subprocess.run([sys.executable, "-c", order], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
