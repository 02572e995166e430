"""The data home is its owner's alone whatever the umask: every folder 0700, every file 0600
(the database, its -wal and -shm, media, the graph, personas, the token, export archives),
and the daemon's start repairs a home an older version made 0755/0644."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from secondself.core.paths import PRIVATE_UMASK
from secondself.household.users import Household
from secondself.memory.model import MediaInput
from secondself.memory.store import MemoryStore
from secondself.service.private_home import keep_home_private, repair_modes
from secondself.web import access
from tests.household.test_personas import CATALOG, DEFAULTS, persona
from tests.memory.test_support import HashEmbedder, tiny_jpeg
from tests.support.private import not_private

ROOT = Path(__file__).resolve().parents[2]
PERMISSIVE = 0o022  # a usual shell's: folders 0755 and files 0644, readable by every account


def loosen(home: Path) -> int:
    """Make `home` as an older version left it under a usual umask; how many paths changed."""
    paths = [p for p in [home, *home.rglob("*")] if not p.is_symlink()]
    for path in paths:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return len(paths)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """This process's umask as a usual shell's, for code that runs without the CLI's."""
    before = os.umask(PERMISSIVE)
    yield
    os.umask(before)


@pytest.mark.unit
def test_the_stores_files_are_private_without_the_clis_umask(
    tmp_path: Path, permissive_umask: None
) -> None:
    home = tmp_path / "home"
    household = Household(home, DEFAULTS, CATALOG)
    household.add_user("bob")
    household.create_persona("bob", persona("work", None))
    access.load_or_create(home)
    with MemoryStore.open(home / "users" / "bob", HashEmbedder(), graph_min=1) as store:
        store.remember("my locker code is 5150")
        store.remember("a photo of the shed", media=MediaInput(tiny_jpeg(), "jpg"))
        assert {"memory.db-wal", "memory.db-shm"} <= {p.name for p in store.user_dir.iterdir()}
        assert not_private(home) == []  # -wal and -shm too, while the store is open
    assert (home / "users" / "bob" / "memory.graph").is_file()  # saved on close
    assert not_private(home) == []


@pytest.mark.unit
def test_repair_makes_folders_0700_and_files_0600_and_leaves_links_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "users" / "default" / "media").mkdir(parents=True)
    (home / "users" / "default" / "memory.db").write_bytes(b"x")
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("not the data home's")
    outside.chmod(0o644)
    (home / "users" / "link").symlink_to(outside)
    loosened = loosen(home)
    assert repair_modes(home).fixed == loosened
    assert not_private(home) == []
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644
    assert repair_modes(home).fixed == 0  # nothing left to do
    assert repair_modes(tmp_path / "missing").fixed == 0


@pytest.mark.unit
def test_the_daemons_start_repairs_an_older_home_in_one_log_line(
    tmp_path: Path, permissive_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    with MemoryStore.open(home / "users" / "default", HashEmbedder()) as store:
        store.remember("my locker code is 5150")
    loosened = loosen(home)
    with caplog.at_level(logging.INFO, logger="secondself.service.private_home"):
        assert keep_home_private(home).fixed == loosened
    assert [r.getMessage() for r in caplog.records] == [
        f"data home {home}: {loosened} folders and files were readable by others, now 0700/0600"
    ]
    assert not_private(home) == []
    assert os.umask(PERMISSIVE) == PRIVATE_UMASK  # what the daemon makes next is private too
    caplog.clear()
    keep_home_private(home)
    assert caplog.records == []  # a private home: nothing to say


# --- through the real CLI and a daemon's start, under a permissive umask ----------------------

DAEMON_START = """
import sys
from pathlib import Path

from secondself.memory.store import MemoryStore
from secondself.service.logs import configure
from secondself.service.private_home import keep_home_private
from secondself.web import access
from tests.memory.test_support import HashEmbedder

home = Path(sys.argv[1])
configure("info", journal=False)
keep_home_private(home)  # what `secondself run` does first
access.load_or_create(home)  # then the page's token, and the stores it keeps open
with MemoryStore.open(home / "users" / "default", HashEmbedder()) as store:
    store.remember("the daemon heard this")
    print("running", flush=True)
    sys.stdin.readline()  # stopped
"""


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "secondself", "--home", str(home), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        umask=PERMISSIVE,
    )


@pytest.mark.e2e
def test_remember_export_and_the_daemons_start_leave_nothing_for_other_accounts(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    photo = tmp_path / "shed.jpg"
    photo.write_bytes(tiny_jpeg())
    assert cli(home, "remember", "my locker code is 5150").returncode == 0
    assert cli(home, "remember", "--image", str(photo)).returncode == 0
    assert cli(home, "export", str(home / "backup.tar.gz")).returncode == 0
    assert (home / "backup.tar.gz").is_file() and (home / "users" / "default" / "media").is_dir()
    assert not_private(home) == []
    loosened = loosen(home)  # as an older version left it
    daemon = subprocess.Popen(
        [sys.executable, "-c", DAEMON_START, str(home)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        umask=PERMISSIVE,
    )
    try:
        assert daemon.stdout is not None and daemon.stdout.readline() == "running\n"
        running = {p.name for p in (home / "users" / "default").iterdir()}
        assert {"memory.db-wal", "memory.db-shm"} <= running
        assert not_private(home) == []  # the token and the open database's files too
    finally:
        _, err = daemon.communicate("\n", timeout=60)
    assert daemon.returncode == 0, err
    assert f"{loosened} folders and files were readable by others, now 0700/0600" in err
    assert err.count("readable by others") == 1
    assert not_private(home) == []
