"""Faults the service survives or reports clearly: a missing or corrupt model file stops the
start with a message naming the file and `make setup`; a full data disk makes a spoken
save fail with a logged error while the database stays intact."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import apsw
import numpy as np
import pytest

from secondself.core.bus import Bus
from secondself.core.config import load_config
from secondself.core.events import Event, MemorySaved, Speaking, StageError
from secondself.core.paths import models_dir
from secondself.core.protocols import Speech
from secondself.service.app import App
from secondself.service.loading import Pipeline, load_pipeline
from secondself.service.session import recording_frames, start_session
from secondself.weights.manifest import ModelStore
from tests.conftest import Say, silence

pytestmark = pytest.mark.e2e

WAKE_MODEL = "hey_jarvis"


# -- models ----------------------------------------------------------------------------------


@pytest.fixture
def models_copy(tmp_path: Path) -> Path:
    """The models folder rebuilt from symbolic links, so one file can be broken."""
    source = models_dir()
    copy = tmp_path / "models"
    for path in source.rglob("*"):
        target = copy / path.relative_to(source)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.name in ("manifest.toml", ".verified.json"):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path.resolve())
    return copy


def start_daemon(models: Path, home: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    """Runs `secondself run` with a notify socket; returns it and what it notified."""
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(home / "notify"))
    notify.setblocking(False)
    env = {
        **os.environ,
        "SECONDSELF_MODELS": str(models),
        "SECONDSELF_HOME": str(home / "data"),
        "NOTIFY_SOCKET": str(home / "notify"),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "secondself", "run"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        said = []
        while True:
            try:
                said.append(notify.recv(4096).decode())
            except BlockingIOError:
                break
    finally:
        notify.close()
    return done, "\n".join(said)


@pytest.mark.parametrize("fault", ["missing", "corrupt"])
def test_a_broken_model_file_stops_the_start_with_a_clear_error(
    models_copy: Path, tmp_path: Path, fault: str
) -> None:
    relative = ModelStore(models_copy).manifest.get(WAKE_MODEL).files[0].path
    broken = models_copy / relative
    size = broken.stat().st_size
    broken.unlink()
    if fault == "corrupt":  # the right size, the wrong bytes
        broken.write_bytes(np.random.default_rng(1).bytes(size))
    done, notified = start_daemon(models_copy, tmp_path)
    assert done.returncode == 1, done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert str(broken) in message
    assert "make setup" in message
    assert ("missing" if fault == "missing" else "checksum") in message
    assert "Traceback" not in done.stderr
    assert "READY=1" not in notified  # systemd sees a failed start, not a ready service


# -- a full disk -----------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs (needs root): the data disk that will fill up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """Writes a file until the disk has no byte left; returns it."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        chunk = 1 << 20
        while chunk:
            try:
                os.write(fd, b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                chunk //= 2
    finally:
        os.close(fd)
    return filler


class Collector:
    def __init__(self) -> None:
        self.played: list[Speech] = []

    def play(self, speech: Speech) -> None:
        self.played.append(speech)

    def stop(self) -> None:
        pass


@pytest.fixture(scope="module")
def pipeline(model_store: ModelStore) -> Pipeline:
    return load_pipeline(load_config(), model_store, Bus())


def test_a_full_disk_fails_the_save_and_keeps_the_database_intact(
    small_disk: Path, pipeline: Pipeline, say: Say, caplog: pytest.LogCaptureFixture
) -> None:
    app = App(home_override=str(small_disk))
    events: list[Event] = []
    app.bus.on(events.append)
    session = start_session(app, Collector(), pipeline)
    try:
        session.store.remember("my dog is called Biscuit")
        filler = fill(small_disk)
        before = len(events)
        audio = np.concatenate(
            [say("Hey Jarvis, remember that the spare key is under the blue pot."), silence(1)]
        )
        with caplog.at_level(logging.ERROR):
            asyncio.run(session.loop.run(recording_frames(audio), wait_for_turns=True))
        after = events[before:]
        errors = [e for e in after if isinstance(e, StageError)]
        assert [e.code for e in errors] == ["memory-disk-full"], [e.name for e in after]
        spoken = [e.sentence for e in after if isinstance(e, Speaking)]
        assert spoken == ["Sorry, something went wrong. Please try again."]
        assert not any(isinstance(e, MemorySaved) for e in after)
        logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert logged, "the failed save was not logged"
        assert any("full" in (r.exc_text or r.getMessage()).lower() for r in logged), [
            r.getMessage() for r in logged
        ]
        filler.unlink()
    finally:
        session.close()
    db = apsw.Connection(str(small_disk / "users" / "default" / "memory.db"))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        texts = [str(t) for (t,) in db.execute("SELECT text FROM memories")]
    finally:
        db.close()
    assert any("Biscuit" in t for t in texts)
    assert not any("spare key" in t for t in texts)
