"""What every command needs, built lazily: the config, the data home and the models."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from secondself.bus import Bus, JsonLinesLog
from secondself.config import Config, load_config
from secondself.errors import UserError
from secondself.models import ModelStore
from secondself.paths import data_home, models_dir

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def check_name(kind: str, name: str) -> str:
    """User and persona names become file names: keep them to a safe alphabet."""
    if not NAME_PATTERN.match(name):
        raise UserError(
            "bad-name",
            f"invalid {kind} name {name!r}: use 1-32 of a-z, 0-9, '-' and '_'",
        )
    return name


@dataclass
class App:
    config_file: Path | None = None
    home_override: str | None = None
    user: str = "default"
    persona: str = "personal"
    events_file: Path | None = None
    bus: Bus = field(default_factory=Bus)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> App:
        app = cls(
            config_file=args.config,
            home_override=args.home,
            user=check_name("user", args.user),
            persona=check_name("persona", args.persona),
            events_file=args.events,
        )
        if app.events_file is not None:
            app.bus.on(JsonLinesLog.open(app.events_file))
        return app

    @cached_property
    def config(self) -> Config:
        return load_config(self.config_file)

    @cached_property
    def home(self) -> Path:
        return data_home(self.home_override)

    @cached_property
    def models(self) -> ModelStore:
        return ModelStore(models_dir(self.config.models.dir))

    def user_dir(self, user: str | None = None) -> Path:
        """One folder per user: its database file and its media, nothing shared."""
        return self.home / "users" / check_name("user", user or self.user)
