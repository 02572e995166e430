"""`secondself doctor`: checks models, audio, camera, GPIO, permissions and disk space.

Every problem comes with the fix. Nothing here changes the system.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

from secondself.cli.registry import Subparsers
from secondself.core.config import Config
from secondself.core.errors import SecondselfError, Stage
from secondself.service.app import App
from secondself.voice.onnx import cpu_session
from secondself.voice.tts import PiperSynthesizer
from secondself.weights.manifest import Model, ModelStore

MIN_FREE_BYTES = 500 * 1024 * 1024
SETUP_FIX = "run `make setup`"
# An intact file that does not load: fetch it again, else the runtime is what is broken.
RELOAD_FIX = (
    "run `secondself models verify`; if it still fails, `make clean setup` reinstalls the runtimes"
)


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # works without it (no camera, no GPIO)
    FAIL = "fail"  # the daemon cannot do its main job


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


def check_models(store: ModelStore, load: bool = True) -> Iterator[Check]:
    for model in store.manifest.models:
        problems = store.check(model.name, full=True)
        if problems:
            yield Check(f"model {model.name}", Status.FAIL, "; ".join(problems), SETUP_FIX)
            continue
        detail = f"{model.role}, {len(model.files)} file(s), checksum ok"
        if load:
            try:
                seconds = _load_once(store, model)
            except Exception as exc:
                yield Check(f"model {model.name}", Status.FAIL, f"does not load: {exc}", RELOAD_FIX)
                continue
            if seconds is not None:
                detail += f", loads in {seconds * 1000:.0f} ms"
        yield Check(f"model {model.name}", Status.OK, detail)


def _load_once(store: ModelStore, model: Model) -> float | None:
    """Open the model with the runtime that will run it; None for set-up-only sources."""
    paths = [store.folder / file.path for file in model.files]
    first = paths[0]
    start = time.perf_counter()
    if model.role == "tts":
        PiperSynthesizer(first)  # a voice: its .onnx with the .onnx.json beside it
    elif first.suffix == ".onnx":
        for path in paths:
            cpu_session(path, Stage.SETUP)
    elif first.suffix == ".gguf":
        from llama_cpp import Llama

        Llama(str(first), vocab_only=True, verbose=False)
    elif model.role == "stt" and first.name == "config.json":
        import ctranslate2

        ctranslate2.models.Whisper(str(first.parent), device="cpu", compute_type="int8")
    else:
        return None
    return time.perf_counter() - start


def check_audio(config_input: str, config_output: str) -> Iterator[Check]:
    """The devices the daemon would open, found exactly as it finds them."""
    from secondself.voice.devices import find_device, list_devices

    try:
        devices = {d.index: d for d in list_devices()}
    except OSError as exc:  # libportaudio2 missing
        yield Check("audio", Status.FAIL, str(exc), "run `make setup` (it installs libportaudio2)")
        return
    except Exception as exc:  # PortAudio's own errors
        yield Check(
            "audio",
            Status.FAIL,
            f"cannot list devices: {exc}",
            "check that the sound server (ALSA, PulseAudio or PipeWire) runs for the service user",
        )
        return
    for kind, direction, wanted in (
        ("microphone", "input", config_input),
        ("speaker", "output", config_output),
    ):
        try:
            index = find_device(wanted, direction)  # type: ignore[arg-type]
        except SecondselfError as exc:
            yield Check(
                kind,
                Status.FAIL,
                exc.message.splitlines()[0],
                f"plug in a USB {kind} (or a HAT) and add the service user to the 'audio' "
                f"group, or set audio.{direction}_device in the config to a device found "
                "(`secondself config` shows the one in force)",
            )
        else:
            yield Check(kind, Status.OK, f"{devices[index].name} (device {index})")


def check_devices(config: Config) -> Iterator[Check]:
    """Button, LED and camera, as configured; absent ones are warnings (the daemon runs)."""
    from secondself.service.hardware import check_hardware

    for c in check_hardware(config):
        yield Check(c.name, Status.OK if c.ok else Status.WARN, c.detail, c.fix)


def check_home(home: Path, min_free_bytes: int = MIN_FREE_BYTES) -> Iterator[Check]:
    probe = home if home.exists() else next((p for p in home.parents if p.exists()), Path("/"))
    if not os.access(probe, os.W_OK):
        yield Check(
            "data home",
            Status.FAIL,
            f"{home} is not writable",
            f"give the folder to the daemon's user: `chown -R USER {probe}`",
        )
    else:
        yield Check("data home", Status.OK, str(home))
    free = shutil.disk_usage(probe).free
    status = Status.OK if free >= min_free_bytes else Status.FAIL
    yield Check(
        "disk space",
        status,
        f"{free / 1e9:.1f} GB free on {probe}",
        ""
        if status is Status.OK
        else f"free at least {min_free_bytes >> 20} MB for memories and the database",
    )


def run_checks(app: App, load_models: bool = True) -> list[Check]:
    checks: list[Check] = []
    sections: list[Callable[[], Iterator[Check]]] = [
        lambda: check_models(app.models, load=load_models),
        lambda: check_audio(app.config.audio.input_device, app.config.audio.output_device),
        lambda: check_devices(app.config),
        lambda: check_home(app.home),
    ]
    for section in sections:
        try:
            checks.extend(section())
        except SecondselfError as exc:
            checks.append(Check(exc.code, Status.FAIL, exc.message, SETUP_FIX))
    return checks


def _doctor(args: argparse.Namespace, app: App) -> int:
    checks = run_checks(app, load_models=not args.quick)
    failed = any(c.status is Status.FAIL for c in checks)
    if args.json:
        report = {"ok": not failed, "checks": [asdict(c) for c in checks]}
        print(json.dumps(report, indent=2))
    else:
        marks = {Status.OK: "ok  ", Status.WARN: "warn", Status.FAIL: "FAIL"}
        for c in checks:
            print(f"[{marks[c.status]}] {c.name}: {c.detail}")
            if c.fix:
                print(f"       fix: {c.fix}")
    return 1 if failed else 0


def register(sub: Subparsers) -> None:
    p = sub.add_parser("doctor", help="check models, audio, camera, GPIO and disk; suggest fixes")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.add_argument("--quick", action="store_true", help="do not load the models")
    p.set_defaults(handler=_doctor)
