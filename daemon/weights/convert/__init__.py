"""Converters that turn a model as shipped on PyPI into the form the daemon runs.

Each takes the verified input files (in manifest order) and writes the output files
(in manifest order). They run once, at set-up, and import their heavy tools lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

Converter = Callable[[list[Path], list[Path]], None]


def _minilm_gguf(inputs: list[Path], outputs: list[Path]) -> None:
    from secondself.weights.convert.minilm_gguf import convert

    convert(inputs, outputs)


def _moonshine_int8(inputs: list[Path], outputs: list[Path]) -> None:
    from secondself.weights.convert.moonshine_onnx import convert

    convert(inputs, outputs)


CONVERTERS: dict[str, Converter] = {
    "minilm-gguf": _minilm_gguf,
    "moonshine-int8": _moonshine_int8,
}
