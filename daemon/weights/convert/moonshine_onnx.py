"""Moonshine base-en as shipped in `moonshine-cpp` (ONNX Runtime `.ort`) -> int8 ONNX.

The `.ort` files store int8/fp16 weights and dequantize them inside the graph on every
call, which makes the decoder as slow as Whisper. So, once at set-up:

1. load each `.ort` in onnxruntime and save it back as a plain `.onnx` (no optimizations);
2. give the decoder's unnamed `If` subgraphs names (the quantizer keys subgraphs by name);
3. re-save with ORT's BASIC optimizer, which constant-folds the dequantization (fp32);
4. `quantize_dynamic` the MatMuls, subgraphs included (int8, about 29 + 105 MB).

Inputs: [encoder .ort, decoder .ort, tokenizer.json]; outputs: [encoder .onnx, decoder .onnx].
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from secondself.core.errors import ModelError, Stage

if TYPE_CHECKING:
    import onnx


def convert(inputs: list[Path], outputs: list[Path]) -> None:
    encoder_ort, decoder_ort = inputs[0], inputs[1]
    if len(outputs) != 2:
        raise ModelError(f"moonshine-int8 makes 2 files, not {len(outputs)}", Stage.SETUP)
    for source, target in zip((encoder_ort, decoder_ort), outputs, strict=True):
        if not source.is_file():
            raise ModelError(f"moonshine-int8: input {source} is missing", Stage.SETUP)
        _convert_one(source, target)


def _convert_one(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Intermediates sit next to the target so the final os.replace stays on one filesystem.
    with tempfile.TemporaryDirectory(prefix=".moonshine-", dir=target.parent) as tmp_dir:
        tmp = Path(tmp_dir)
        plain, named, folded = tmp / "plain.onnx", tmp / "named.onnx", tmp / "folded.onnx"
        quantized = tmp / "int8.onnx"
        _resave(source, plain, basic=False)
        _name_subgraphs(plain, named, graph_name=source.stem)
        _resave(named, folded, basic=True)
        _quantize(folded, quantized)
        os.replace(quantized, target)


def _resave(source: Path, target: Path, basic: bool) -> None:
    """Let onnxruntime load a model and write the graph it ended up with as ONNX."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        if basic
        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    options.optimized_model_filepath = str(target)
    options.intra_op_num_threads = 1  # nothing runs; keep set-up off the other cores
    options.inter_op_num_threads = 1
    try:
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        message = f"moonshine-int8: onnxruntime cannot load {source}: {exc}"
        raise ModelError(message, Stage.SETUP) from exc
    if not target.is_file():
        raise ModelError(f"moonshine-int8: onnxruntime wrote no model for {source}", Stage.SETUP)


def _name_subgraphs(source: Path, target: Path, graph_name: str) -> None:
    """Name every unnamed graph: the quantizer tracks subgraphs by name and mixes up blanks."""
    import onnx

    model = onnx.load(str(source))
    if not model.graph.name:
        model.graph.name = graph_name
    _name_graph_attributes(model.graph)
    onnx.save(model, str(target))


def _name_graph_attributes(graph: onnx.GraphProto) -> None:
    import onnx

    for index, node in enumerate(graph.node):
        for attribute in node.attribute:
            if attribute.type != onnx.AttributeProto.GRAPH:
                continue
            if not attribute.g.name:
                owner = (node.name or f"{node.op_type}{index}").replace(":", "_")
                attribute.g.name = f"{graph.name}/{owner}/{attribute.name}"
            _name_graph_attributes(attribute.g)


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer's advice to pre-process does not apply here (BASIC already ran) and
    # would read like a fault in the set-up output.
    advice = _DropMessage("Please consider to run pre-processing")
    logging.getLogger().addFilter(advice)
    try:
        quantize_dynamic(
            str(source),
            str(target),
            op_types_to_quantize=["MatMul"],
            weight_type=QuantType.QInt8,
            extra_options={"EnableSubgraph": True},
        )
    finally:
        logging.getLogger().removeFilter(advice)


class _DropMessage(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)
