"""scripts/install.sh, through its --dry-run: what it would do to install and uninstall."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install.sh"


def dry_run(*args: str) -> str:
    done = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def commands(output: str) -> list[str]:
    return [line[2:] for line in output.splitlines() if line.startswith("+ ")]


def group_exists(name: str) -> bool:
    return subprocess.run(["getent", "group", name], capture_output=True).returncode == 0


def test_install_creates_the_user_with_only_its_device_groups() -> None:
    out = dry_run()
    done = commands(out)
    if subprocess.run(["getent", "passwd", "secondself"], capture_output=True).returncode != 0:
        assert any(c.startswith("useradd --system") and c.endswith(" secondself") for c in done)
    for group in ("audio", "video", "gpio"):
        line = f"usermod --append --groups {group} secondself"
        if group_exists(group):
            assert line in done
        else:
            assert line not in done and f"no group '{group}'" in out
    assert not any("sudo" in c or "--groups root" in c for c in done)


def test_install_sets_up_code_models_config_and_the_unit() -> None:
    out = dry_run()
    done = commands(out)
    setup = next(c for c in done if "scripts/setup.sh" in c)
    assert "SECONDSELF_MODELS=/opt/secondself/models" in setup and "-C /opt/secondself" in setup
    assert any(c.endswith("secondself models verify") for c in done)
    assert "write /etc/systemd/system/secondself.service (mode 0644):" in done
    assert "ExecStart=/opt/secondself/.venv/bin/secondself run" in out
    order = [c.split()[1] if c.startswith("systemctl") else "" for c in done]
    assert order.index("daemon-reload") < order.index("enable") < order.index("restart")
    if not Path("/etc/secondself/config.toml").exists():
        assert "write /etc/secondself/config.toml (mode 0644):" in done
        assert '# model = "hey_jarvis"' in out  # every default, commented out


def test_install_with_another_prefix_rewrites_the_unit() -> None:
    out = dry_run("--prefix", "/srv/secondself", "--no-start")
    assert "ExecStart=/srv/secondself/.venv/bin/secondself run" in out
    assert "Environment=SECONDSELF_MODELS=/srv/secondself/models" in out
    assert "/opt/secondself" not in out
    assert "systemctl restart secondself.service" not in commands(out)


def test_uninstall_keeps_the_data_unless_asked() -> None:
    kept = commands(dry_run("--uninstall"))
    assert "systemctl disable --now secondself.service" in kept
    assert "rm -f /etc/systemd/system/secondself.service" in kept
    assert "rm -rf /opt/secondself" in kept
    assert not any("/var/lib/secondself" in c for c in kept)
    assert not any(c.startswith("userdel") for c in kept)

    wiped = commands(dry_run("--uninstall", "--wipe-data"))
    assert any(c.startswith("rm -rf /var/lib/secondself /etc/secondself") for c in wiped)
    assert "userdel secondself" in wiped


@pytest.mark.parametrize(
    "args", [["--bogus"], ["--wipe-data"], ["--prefix", "relative/path"], ["--prefix"]]
)
def test_bad_options_exit_2(args: list[str]) -> None:
    done = subprocess.run(["bash", str(SCRIPT), "--dry-run", *args], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("install:")


def test_script_is_valid_bash() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
