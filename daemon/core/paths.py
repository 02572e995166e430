"""Where things live: the data home (private to its owner), the models and the downloads."""

from __future__ import annotations

import os
from pathlib import Path

SYSTEMD_STATE = Path("/var/lib/secondself")
# The data home holds every memory: its folders are 0700 and its files 0600 (systemd's
# UMask=0077 too). The CLI and the daemon set it; code that makes files there says so too.
PRIVATE_UMASK = 0o077


def data_home(override: str | os.PathLike[str] | None = None) -> Path:
    """--home, else SECONDSELF_HOME, else systemd's StateDirectory, else XDG data home."""
    if override:
        return Path(override).expanduser()
    if env := os.environ.get("SECONDSELF_HOME"):
        return Path(env).expanduser()
    if state := os.environ.get("STATE_DIRECTORY"):  # set by systemd's StateDirectory=
        return Path(state.split(":")[0])
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "secondself"


def private_dir(path: Path) -> Path:
    """`path` as a folder, it and each missing parent made 0700 whatever the umask."""
    if not path.is_dir():
        if path.parent != path:
            private_dir(path.parent)
        path.mkdir(mode=0o700, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Downloads, built wheels and verified models, shared by every clone on the machine."""
    if env := os.environ.get("SECONDSELF_CACHE"):
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "secondself"


def source_models_dir() -> Path | None:
    """`models/` of the source checkout this package runs from, if it is one."""
    candidate = Path(__file__).resolve().parents[2] / "models"
    return candidate if (candidate / "manifest.toml").is_file() else None


def models_dir(configured: str = "") -> Path:
    """The folder the daemon loads models from (config `models.dir` wins)."""
    if configured:
        return Path(configured).expanduser()
    if env := os.environ.get("SECONDSELF_MODELS"):
        return Path(env).expanduser()
    return source_models_dir() or cache_dir() / "models"
