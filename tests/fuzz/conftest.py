"""The fuzz suite's Hypothesis profiles: a few examples in `make test`, many with
SECONDSELF_FUZZ=long (e.g. `SECONDSELF_FUZZ=long pytest tests/fuzz`)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Each example makes files, opens SQLite or runs a command: slow for Hypothesis's taste.
# Function-scoped fixtures (the environment) are meant to be shared by a test's examples.
_SLOW_IS_FINE = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
    HealthCheck.function_scoped_fixture,
]

settings.register_profile(
    "fuzz", max_examples=50, deadline=None, suppress_health_check=_SLOW_IS_FINE
)
settings.register_profile(
    "fuzz-long", max_examples=1500, deadline=None, suppress_health_check=_SLOW_IS_FINE
)
settings.load_profile("fuzz-long" if os.environ.get("SECONDSELF_FUZZ") == "long" else "fuzz")
