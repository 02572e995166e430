"""all-MiniLM-L6-v2 as shipped (safetensors + config.json) -> ONNX encoder, fp32 and int8.

The graph is written with `onnx.helper` from the weights alone (no torch export), as a
BERT encoder followed by mean pooling over the attention mask, the way sentence-transformers
runs this model; rows come out unnormalised (`embed_onnx` normalises, as `embed.py` does).

- inputs `input_ids`, `attention_mask`: int64 [batch, seq]; output `embedding`: float32
  [batch, hidden]. Token type ids are always 0 for one sentence, so that row of the
  token-type table is added to the position table once here instead of gathered per call;
- node patterns follow what torch's BERT export produces (Div by sqrt(head size), a
  `(1 - mask) * -10000` additive mask, erf GELU), so onnxruntime's BERT fusions match it:
  `fuse` rewrites it with com.microsoft Attention, SkipLayerNormalization and BiasGelu;
- `quantize` makes the int8 file with onnxruntime's dynamic quantizer (int8 weights,
  activations quantized per call); with the fused graph, Attention becomes QAttention.

Inputs: [model.safetensors, tokenizer.json, config.json] (the minilm-gguf inputs; the
tokenizer is read at run time); outputs: [fp32 .onnx, int8 .onnx].
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from secondself.core.errors import ModelError, Stage

OPSET = 17  # LayerNormalization is an ONNX op from 17 on
MS_DOMAIN = "com.microsoft"
MASK_FILTER = -10000.0  # what BERT exports use; exp() of it underflows to 0 in float32
OUTPUT = "embedding"

Weights = dict[str, NDArray[np.float32]]


@dataclass(frozen=True, slots=True)
class Shape:
    layers: int
    hidden: int
    heads: int
    eps: float

    @property
    def head_size(self) -> int:
        return self.hidden // self.heads


@dataclass(frozen=True, slots=True)
class Quantization:
    # One scale per output column: per-tensor scales cost this model's vectors too much
    # (cosine to fp32 0.95 mean, 0.92 worst, against 0.989 and 0.98 per column).
    per_channel: bool = True
    reduce_range: bool = False  # 7-bit weights: worse still here (0.84 mean per tensor)
    signed: bool = True  # int8 weights (uint8 activations); False: uint8 weights
    fused: bool = True  # quantize the fused graph (QAttention) rather than the plain one


# What the default int8 output is made with; `scripts/bench_embed.py` compares the others.
DEFAULT_QUANTIZATION = Quantization()


def convert(
    inputs: list[Path], outputs: list[Path], quantization: Quantization = DEFAULT_QUANTIZATION
) -> None:
    if len(inputs) != 3 or len(outputs) != 2:
        raise ModelError(
            "minilm-onnx takes [model.safetensors, tokenizer.json, config.json] "
            "-> [fp32 .onnx, int8 .onnx]",
            Stage.SETUP,
        )
    for path in inputs:
        if not path.is_file():
            raise ModelError(f"minilm-onnx: input {path} is missing", Stage.SETUP)
    weights_path, _tokenizer, config_path = inputs
    fp32_path, int8_path = outputs
    model = build_model(load_weights(weights_path), read_shape(config_path))
    _save_atomically(model, fp32_path)
    with tempfile.TemporaryDirectory(prefix=".minilm-", dir=int8_path.parent) as tmp_dir:
        source = fp32_path
        if quantization.fused:
            source = Path(tmp_dir) / "fused.onnx"
            onnx.save(fuse(model, read_shape(config_path)), str(source))
        quantize(source, int8_path, quantization)


def read_shape(path: Path) -> Shape:
    try:
        config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"minilm-onnx: cannot read {path}: {exc}", Stage.SETUP) from exc
    if config.get("hidden_act", "gelu") != "gelu":
        raise ModelError(f"minilm-onnx: unsupported activation {config['hidden_act']}", Stage.SETUP)
    return Shape(
        layers=int(config["num_hidden_layers"]),
        hidden=int(config["hidden_size"]),
        heads=int(config["num_attention_heads"]),
        eps=float(config["layer_norm_eps"]),
    )


def load_weights(path: Path) -> Weights:
    from safetensors.numpy import load_file

    try:
        loaded: dict[str, NDArray[Any]] = load_file(str(path))
    except (OSError, ValueError) as exc:
        raise ModelError(f"minilm-onnx: cannot read {path}: {exc}", Stage.SETUP) from exc
    # Some exports prefix every name with the architecture ("bert.").
    return {k.removeprefix("bert."): v.astype(np.float32) for k, v in loaded.items()}


@dataclass
class _Builder:
    """Collects nodes and initializers; every node output gets a fresh name."""

    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    count: int = 0

    def const(self, name: str, array: NDArray[Any]) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], output: str = "", **attrs: Any) -> str:
        self.count += 1
        name = f"{op_type}_{self.count}"
        out = output or name
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=name, **attrs))
        return out


def build_model(weights: Weights, shape: Shape) -> onnx.ModelProto:
    """The plain-ONNX encoder + mean pooling (every op in the default domain)."""
    g = _Builder()
    _add_constants(g, shape)
    x = _embeddings(g, weights, shape)
    mask = _attention_mask(g)
    for layer in range(shape.layers):
        x = _layer(g, weights, shape, layer, x, mask)
    _mean_pool(g, x)  # its output is the graph output, named OUTPUT
    graph = helper.make_graph(
        g.nodes,
        "minilm",
        inputs=[
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        outputs=[helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", shape.hidden])],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # what onnxruntime >= 1.17 (the pinned minimum) reads
    onnx.checker.check_model(model)
    return model


def _add_constants(g: _Builder, shape: Shape) -> None:
    g.const("one", np.array(1.0, np.float32))
    g.const("half", np.array(0.5, np.float32))
    g.const("sqrt2", np.array(math.sqrt(2.0), np.float32))
    g.const("mask_filter", np.array(MASK_FILTER, np.float32))
    g.const("scale", np.array(math.sqrt(shape.head_size), np.float32))
    g.const("tiny", np.array(1e-9, np.float32))
    g.const("starts_0", np.array([0], np.int64))
    g.const("axes_0", np.array([0], np.int64))
    g.const("axes_1", np.array([1], np.int64))
    g.const("axes_2", np.array([2], np.int64))
    g.const("axes_m1", np.array([-1], np.int64))
    g.const("heads_shape", np.array([0, 0, shape.heads, shape.head_size], np.int64))
    g.const("hidden_shape", np.array([0, 0, shape.hidden], np.int64))


def _embeddings(g: _Builder, w: Weights, shape: Shape) -> str:
    """word + position (+ token type 0, folded into the position table), then LayerNorm."""
    words = g.const("word_embeddings", w["embeddings.word_embeddings.weight"])
    folded = (
        w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0]
    )
    positions = g.const("position_embeddings", folded)
    # The first seq rows of the table (a Slice, not Gather(Range): onnxruntime's own
    # EmbedLayerNormalization fusion turns that into a Slice it then cannot run).
    seq = g.op("Slice", [g.op("Shape", ["input_ids"]), "axes_1", "axes_2"])
    position_rows = g.op("Slice", [positions, "starts_0", seq, "axes_0"])
    summed = g.op("Add", [g.op("Gather", [words, "input_ids"], axis=0), position_rows])
    return _layer_norm(g, w, "embeddings.LayerNorm", summed, shape.eps)


def _attention_mask(g: _Builder) -> str:
    """[batch, 1, 1, seq]: 0 where a token is real, -10000 where it is padding."""
    expanded = g.op("Unsqueeze", [g.op("Unsqueeze", ["attention_mask", "axes_1"]), "axes_2"])
    as_float = g.op("Cast", [expanded], to=TensorProto.FLOAT)
    return g.op("Mul", [g.op("Sub", ["one", as_float]), "mask_filter"])


def _layer(g: _Builder, w: Weights, shape: Shape, layer: int, x: str, mask: str) -> str:
    p = f"encoder.layer.{layer}."
    attended = _self_attention(g, w, shape, p, x, mask)
    projected = _linear(g, w, f"{p}attention.output.dense", attended)
    x = _layer_norm(g, w, f"{p}attention.output.LayerNorm", g.op("Add", [projected, x]), shape.eps)
    up = _gelu(g, _linear(g, w, f"{p}intermediate.dense", x))
    down = _linear(g, w, f"{p}output.dense", up)
    return _layer_norm(g, w, f"{p}output.LayerNorm", g.op("Add", [down, x]), shape.eps)


def _self_attention(g: _Builder, w: Weights, shape: Shape, p: str, x: str, mask: str) -> str:
    """softmax(q k^T / sqrt(d) + mask) v, heads split and merged with Reshape/Transpose."""
    s = f"{p}attention.self."

    def heads(part: str, perm: list[int]) -> str:
        split = g.op("Reshape", [_linear(g, w, s + part, x), "heads_shape"])
        return g.op("Transpose", [split], perm=perm)

    q = heads("query", [0, 2, 1, 3])
    k = heads("key", [0, 2, 3, 1])  # already transposed for q @ k^T
    v = heads("value", [0, 2, 1, 3])
    scores = g.op("Div", [g.op("MatMul", [q, k]), "scale"])
    probs = g.op("Softmax", [g.op("Add", [scores, mask])], axis=-1)
    context = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
    return g.op("Reshape", [context, "hidden_shape"])


def _linear(g: _Builder, w: Weights, name: str, x: str) -> str:
    # torch's Linear stores [out, in]; MatMul wants [in, out].
    weight = g.const(f"{name}.weight", w[f"{name}.weight"].T)
    return g.op("Add", [g.op("MatMul", [x, weight]), g.const(f"{name}.bias", w[f"{name}.bias"])])


def _layer_norm(g: _Builder, w: Weights, name: str, x: str, eps: float) -> str:
    gamma = g.const(f"{name}.weight", w[f"{name}.weight"])
    beta = g.const(f"{name}.bias", w[f"{name}.bias"])
    return g.op("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=eps)


def _gelu(g: _Builder, x: str) -> str:
    """Exact GELU, x * 0.5 * (1 + erf(x / sqrt 2)), as BERT (not the tanh approximation)."""
    erf = g.op("Erf", [g.op("Div", [x, "sqrt2"])])
    return g.op("Mul", [g.op("Mul", [x, g.op("Add", [erf, "one"])]), "half"])


def _mean_pool(g: _Builder, x: str) -> str:
    """Sum of the real tokens' states over their count (sentence-transformers' Pooling)."""
    weight = g.op("Cast", [g.op("Unsqueeze", ["attention_mask", "axes_m1"])], to=TensorProto.FLOAT)
    summed = g.op("ReduceSum", [g.op("Mul", [x, weight]), "axes_1"], keepdims=0)
    count = g.op("Max", [g.op("ReduceSum", [weight, "axes_1"], keepdims=0), "tiny"])
    return g.op("Div", [summed, count], output=OUTPUT)


def fuse(model: onnx.ModelProto, shape: Shape) -> onnx.ModelProto:
    """ORT's BERT optimizer: Attention, SkipLayerNormalization, BiasGelu (exact erf kept)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_gelu_approximation = False  # FastGelu (tanh) would change the vectors
    options.enable_shape_inference = False  # needs sympy, which set-up does not install
    fused: Any = optimize_model(
        model,
        model_type="bert",
        num_heads=shape.heads,
        hidden_size=shape.hidden,
        optimization_options=options,
        opt_level=0,  # graph fusions only; onnxruntime's own passes run at session load
    )
    counts: dict[str, int] = fused.get_fused_operator_statistics()
    if counts.get("Attention", 0) != shape.layers:
        message = f"minilm-onnx: expected {shape.layers} fused Attention nodes, got {counts}"
        raise ModelError(message, Stage.SETUP)
    out: onnx.ModelProto = fused.model
    # The optimizer adds the contrib domain's opset only when it saves the file itself.
    if not any(o.domain == MS_DOMAIN for o in out.opset_import):
        out.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    return out


def quantize(source: Path, target: Path, quantization: Quantization) -> None:
    """Int8 weights for MatMul (and fused Attention), activations quantized at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    advice = _DropMessage("Please consider to run pre-processing")  # not needed: no shapes
    logging.getLogger().addFilter(advice)
    try:
        quantize_dynamic(
            str(source),
            str(tmp),
            op_types_to_quantize=["MatMul", "Attention"],
            per_channel=quantization.per_channel,
            reduce_range=quantization.reduce_range,
            weight_type=QuantType.QInt8 if quantization.signed else QuantType.QUInt8,
            # onnx's shape inference does not know the com.microsoft ops, so the types of
            # what follows them are unknown to the quantizer: all of them are float.
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
        os.replace(tmp, target)
    finally:
        logging.getLogger().removeFilter(advice)
        tmp.unlink(missing_ok=True)


def _save_atomically(model: onnx.ModelProto, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        onnx.save(model, str(tmp))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


class _DropMessage(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)
