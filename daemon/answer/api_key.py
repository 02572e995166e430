"""The cloud API key: read from the environment or an owner-only file, never printed."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from secondself.core.config import CloudConfig
from secondself.core.errors import ConfigError


class ApiKey:
    """A secret whose repr and str are redacted, so a stray log line cannot print it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "ApiKey(<redacted>)"

    __str__ = __repr__


def load_api_key(config: CloudConfig, environ: Mapping[str, str] | None = None) -> ApiKey | None:
    """The key from `cloud.api_key_env`, else from `cloud.api_key_file`, else None (an
    endpoint that needs none, e.g. a server on the local network)."""
    environ = os.environ if environ is None else environ
    if config.api_key_env and (value := environ.get(config.api_key_env, "").strip()):
        return ApiKey(value)
    if not config.api_key_file:
        return None
    path = Path(config.api_key_file).expanduser()
    try:
        info = path.stat()
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            # Readable by others means the key is not a secret any more: refuse to use it.
            raise ConfigError(
                f"config key 'cloud.api_key_file': {path} must be readable by its owner only"
                f" (chmod 600 {path})"
            )
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"config key 'cloud.api_key_file': cannot read {path} ({exc.strerror})"
        ) from None
    if not value:
        raise ConfigError(f"config key 'cloud.api_key_file': {path} is empty")
    return ApiKey(value)
