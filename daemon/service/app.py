"""What every command needs, built lazily: the config, the data home and the models."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from secondself.core.bus import Bus, JsonLinesLog
from secondself.core.config import Config, load_config
from secondself.core.names import check_name
from secondself.core.paths import data_home, models_dir
from secondself.household.personas import Catalog, Defaults, Persona
from secondself.household.users import USERS_DIR, Household
from secondself.memory.db import DB_FILE
from secondself.weights.manifest import ModelStore


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
        return self.home / USERS_DIR / check_name("user", user or self.user)

    def db_path(self, user: str | None = None) -> Path:
        """The user's memory database file (it may not exist yet)."""
        return self.user_dir(user) / DB_FILE

    @cached_property
    def household(self) -> Household:
        """The users and personas under the data home, with the config's defaults."""
        return Household(
            self.home,
            Defaults.from_config(self.config),
            Catalog.from_manifest(self.models.manifest),
        )

    def current_persona(self) -> Persona:
        """The persona a command runs as (`--user`, `--persona`); UserError if it does not exist."""
        return self.household.persona(self.user, self.persona)
