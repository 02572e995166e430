"""The unit's sandbox, emulated here without systemd: the daemon keeps working under its
SystemCallFilter= (a seccomp filter built from `systemd-analyze syscall-filter`), and
MemoryDenyWriteExecute= stays off because sounddevice's cffi callbacks need W+X memory."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "secondself.service"
SECCOMP_PATH = "/usr/lib/python3/dist-packages"
PR_SET_MDWE = 65  # Linux 6.3+: refuse memory that is (or becomes) writable and executable
SITECUSTOMIZE = """
import ctypes, os, sys
if os.environ.get("EMULATE_MDWE"):
    if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0:
        raise SystemExit("PR_SET_MDWE is not supported by this kernel")
if os.environ.get("EMULATE_SYSCALLS"):
    sys.path.append("/usr/lib/python3/dist-packages")
    import seccomp
    sandbox = seccomp.SyscallFilter(defaction=seccomp.ERRNO(1))  # SystemCallErrorNumber=EPERM
    for name in open(os.environ["EMULATE_SYSCALLS"]).read().split():
        try:
            sandbox.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError):  # not a system call on this architecture
            pass
    sandbox.load()
    sys.path.remove("/usr/lib/python3/dist-packages")
"""


def syscall_groups() -> dict[str, list[str]]:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (apt-get install systemd)")
    listing = subprocess.run([analyze, "syscall-filter"], capture_output=True, text=True).stdout
    groups: dict[str, list[str]] = {}
    current = ""
    for line in listing.splitlines():
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        if line.startswith("@"):
            current = item
            groups[current] = []
        elif current:
            groups[current].append(item)
    return groups


def expand(groups: dict[str, list[str]], names: list[str]) -> set[str]:
    found: set[str] = set()
    for name in names:
        found |= expand(groups, groups[name]) if name.startswith("@") else {name}
    return found


def unit_syscalls() -> set[str]:
    """The allowed system calls: the allow lists minus the `~` deny lists, as systemd does."""
    groups = syscall_groups()
    allowed: list[str] = []
    denied: list[str] = []
    for line in UNIT.read_text().splitlines():
        if line.startswith("SystemCallFilter="):
            value = line.partition("=")[2]
            (denied if value.startswith("~") else allowed).extend(value.lstrip("~").split())
    assert allowed, "the unit has no SystemCallFilter allow list"
    return expand(groups, allowed) - expand(groups, denied)


def sandbox(tmp_path: Path) -> Path:
    folder = tmp_path / "sandbox"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE))
    return folder


def has_seccomp() -> bool:
    sys.path.append(SECCOMP_PATH)
    try:
        return importlib.util.find_spec("seccomp") is not None
    finally:
        sys.path.remove(SECCOMP_PATH)


@pytest.mark.unit
def test_memory_deny_write_execute_stays_off_for_cffi_callbacks(tmp_path: Path) -> None:
    """If this ever fails, cffi no longer needs W+X pages: turn MemoryDenyWriteExecute on."""
    assert "\nMemoryDenyWriteExecute=yes" not in UNIT.read_text()
    code = "import cffi; cffi.FFI().callback('int(int)', lambda x: x)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(sandbox(tmp_path)), "EMULATE_MDWE": "1"},
        capture_output=True,
        text=True,
    )
    if "PR_SET_MDWE is not supported" in done.stderr:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    assert done.returncode != 0
    assert "write+execute memory" in done.stderr


@pytest.mark.e2e
def test_the_daemon_works_under_the_units_system_call_filter(
    tmp_path: Path, soundcard: object
) -> None:
    if not has_seccomp():
        pytest.skip("python3-seccomp not installed (apt-get install python3-seccomp)")
    from tests.service.test_daemon import soak

    allowed = tmp_path / "syscalls.txt"
    allowed.write_text("\n".join(sorted(unit_syscalls())))
    env = {"PYTHONPATH": str(sandbox(tmp_path)), "EMULATE_SYSCALLS": str(allowed)}
    service = soak.ServiceProcess(tmp_path / "home", env=env).start()
    voice = soak.Voice()
    try:
        service.wait_for("READY=1", 120)
        status = Path(f"/proc/{service.pid}/status").read_text()
        assert "Seccomp:\t2" in status  # the filter is on
        for text in soak.lines(2):
            replied, _, errors = soak.converse(service, soundcard, voice.say(text))
            assert replied and errors == 0, service.stderr()
        assert service.metrics()["secondself_wakes_total"] == 2
    finally:
        code = service.stop()
    assert code == 0, service.stderr()
    assert "Operation not permitted" not in service.stderr()
