"""Where things live: the data home, the model folder and the download cache."""

from __future__ import annotations

import os
from pathlib import Path

SYSTEMD_STATE = Path("/var/lib/secondself")


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
