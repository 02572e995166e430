"""`doctor` finds audio devices exactly as the daemon does (one matcher, no disagreement),
loads each model as the daemon would (a voice is its .onnx with its .onnx.json), and every
fix it prints names a command that exists."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shlex
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from secondself.cli.doctor import (
    Check,
    Status,
    check_audio,
    check_devices,
    check_home,
    check_models,
)
from secondself.cli.main import build_parser
from secondself.core.config import load_config
from secondself.core.errors import UserError
from secondself.voice.virtual_soundcard import VirtualSoundCard
from secondself.weights.manifest import ModelStore

ROOT = Path(__file__).resolve().parents[2]
VOICE = "en_US-joe-medium"


@pytest.mark.e2e
def test_doctor_sees_the_virtual_card_and_names_a_missing_device(
    soundcard: VirtualSoundCard,
) -> None:
    checks = {c.name: c for c in check_audio("", "")}
    assert checks["microphone"].status is Status.OK
    assert checks["speaker"].status is Status.OK
    # A name the daemon would match case-insensitively, doctor matches too.
    assert {c.name: c.status for c in check_audio("PULSE", "Pulse")} == {
        "microphone": Status.OK,
        "speaker": Status.OK,
    }
    missing = {c.name: c for c in check_audio("ReSpeaker", "")}["microphone"]
    assert missing.status is Status.FAIL
    assert "'ReSpeaker'" in missing.detail and "audio.input_device" in missing.fix


# --- models -------------------------------------------------------------------------------


def models_folder(folder: Path, files: dict[str, dict[str, bytes | Path]]) -> ModelStore:
    """A models folder whose manifest lists `files` by model: {model: {relpath: content}},
    a Path content being a real file to link in. The checksums are those of the content,
    so only loading can find what is wrong."""
    entries = []
    for name, members in files.items():
        rows = []
        for relpath, content in members.items():
            target = folder / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                target.symlink_to(content)
            else:
                target.write_bytes(content)
            digest = hashlib.sha256(target.read_bytes()).hexdigest()
            rows.append(f'  {{ path = "{relpath}", sha256 = "{digest}" }},')
        role = "tts" if name == VOICE else "vad"
        entries.append(f'[[model]]\nname = "{name}"\nrole = "{role}"\nfiles = [\n')
        entries[-1] += "\n".join(rows) + "\n]\n"
    (folder / "manifest.toml").write_text("\n".join(entries))
    return ModelStore(folder)


@pytest.mark.e2e
def test_a_voice_is_checked_and_loaded_as_its_onnx_and_json(
    tmp_path: Path, model_store: ModelStore
) -> None:
    onnx = model_store.path(VOICE, 0)
    store = models_folder(
        tmp_path,
        {VOICE: {"tts/voice.onnx": onnx, "tts/voice.onnx.json": Path(f"{onnx}.json")}},
    )
    [check] = check_models(store)
    assert check.status is Status.OK, check
    assert "2 file(s)" in check.detail and "loads in" in check.detail


@pytest.mark.unit
def test_a_voice_without_its_json_or_with_a_broken_one_fails(tmp_path: Path) -> None:
    store = models_folder(
        tmp_path / "broken", {VOICE: {"tts/v.onnx": b"\x08\x07", "tts/v.onnx.json": b"{"}}
    )
    [broken] = check_models(store)
    assert broken.status is Status.FAIL and "does not load" in broken.detail
    (tmp_path / "broken" / "tts" / "v.onnx.json").unlink()
    [missing] = check_models(ModelStore(tmp_path / "broken"))
    assert missing.status is Status.FAIL and "tts/v.onnx.json: missing" in missing.detail


# --- every fix line names a command that exists ---------------------------------------------


def make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w.-]*):", makefile, flags=re.MULTILINE))


def command_problem(command: str) -> str | None:
    """Why a command from a fix line would not run here as written, or None."""
    words = shlex.split(command)
    program, args = words[0], words[1:]
    if program == "make":
        unknown = [a for a in args if a.startswith("-") or a not in make_targets()]
        return f"no Makefile target {unknown}" if unknown or not args else None
    if program == "secondself":
        try:
            build_parser().parse_args(args)
        except (SystemExit, UserError):  # a bad argument is a one-line UserError
            return "secondself does not take these arguments"
        return None
    found = shutil.which(program) or (Path(sys.executable).parent / program).is_file()
    return None if found else f"no program {program!r}"


def failing_checks(tmp_path: Path) -> Iterator[Check]:
    """Doctor's checks on a machine where everything it checks is wrong."""
    store = models_folder(
        tmp_path / "models",
        {
            "silero-vad": {"vad/model.onnx": b"not onnx"},  # intact but does not load
            VOICE: {"tts/v.onnx": b"\x08\x07", "tts/v.onnx.json": b"{}"},
        },
    )
    (tmp_path / "models" / "vad" / "model.onnx").write_bytes(b"changed")  # corrupt now
    yield from check_models(store)
    yield from check_models(models_folder(tmp_path / "loads", {"x": {"x.onnx": b"no"}}))
    yield from check_audio("ReSpeaker", "no such speaker")
    config = load_config(system_files=[])
    camera = dataclasses.replace(config.camera, source=str(tmp_path / "none.mp4"), vision="cloud")
    gpio = dataclasses.replace(config.gpio, pin_factory="lgpio")
    yield from check_devices(dataclasses.replace(config, camera=camera, gpio=gpio))
    local = dataclasses.replace(camera, vision="local", vision_model="")
    yield from check_devices(dataclasses.replace(config, camera=local, gpio=gpio))
    yield from check_home(tmp_path / "home", min_free_bytes=1 << 62)


@pytest.mark.unit
def test_every_fix_line_names_a_command_that_exists(tmp_path: Path) -> None:
    checks = [c for c in failing_checks(tmp_path) if c.status is not Status.OK]
    names = {c.name for c in checks}
    assert {"model silero-vad", f"model {VOICE}", "model x", "camera", "disk space"} <= names
    assert "microphone" in names or "audio" in names
    problems = {}
    for check in checks:
        assert check.fix, f"{check.name}: no fix"
        for command in re.findall(r"`([^`]+)`", check.fix):
            if (why := command_problem(command)) is not None:
                problems[command] = f"{check.name}: {why}"
    assert problems == {}


@pytest.mark.unit
def test_the_command_check_catches_commands_that_do_not_exist() -> None:
    assert command_problem("make setup") is None
    assert command_problem("make clean setup") is None
    assert command_problem("make setup --full") is not None  # the fix doctor used to print
    assert command_problem("secondself models verify") is None
    assert command_problem("secondself models repair") is not None
    assert command_problem("no-such-tool --help") is not None
