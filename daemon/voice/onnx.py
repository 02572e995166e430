"""ONNX Runtime sessions on the CPU, made one way for every stage (wake word, VAD, STT)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from secondself.core.errors import ModelError, Stage


def cpu_session(path: Path, stage: Stage, threads: int = 1, arena: bool = True) -> Any:
    """A session with a fixed, small thread count whose idle threads do not spin: the wake
    word runs on every frame, all day, next to the answer model on a few shared cores.

    `arena=False` for a model whose tensors change size with every input (piper's voice):
    ONNX Runtime's arena keeps the most it ever needed and fragments as sizes vary, which
    kept 200 MB more resident for piper and grew with every new sentence length."""
    import onnxruntime as ort  # deferred: no model runtime at import time

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    options.enable_cpu_mem_arena = arena
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"cannot load {path}: {exc}", stage) from exc
