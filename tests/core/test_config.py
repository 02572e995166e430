from __future__ import annotations

from pathlib import Path

import pytest

from secondself.core.config import load_config
from secondself.core.errors import ConfigError

pytestmark = pytest.mark.unit


def load(tmp_path: Path, text: str = "", env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    extra = None
    if text:
        extra = tmp_path / "c.toml"
        extra.write_text(text)
    return load_config(extra, environ=env or {}, system_files=[])


def test_defaults_are_valid(tmp_path: Path) -> None:
    config = load(tmp_path)
    assert config.wake.model == "hey_jarvis"
    assert config.llm.threads == 1


def test_file_then_environment_wins(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "[llm]\nthreads = 2\ntemperature = 0.5\n",
        {"SECONDSELF_LLM_THREADS": "3", "SECONDSELF_HOME": "/x"},
    )
    assert config.llm.threads == 3
    assert config.llm.temperature == 0.5


def test_layered_files_apply_in_order(tmp_path: Path) -> None:
    system = tmp_path / "system.toml"
    system.write_text('[wake]\nmodel = "alexa"\nthreshold = 0.7\n')
    user = tmp_path / "user.toml"
    user.write_text("[wake]\nthreshold = 0.6\n")
    config = load_config(None, environ={}, system_files=[system, user])
    assert (config.wake.model, config.wake.threshold) == ("alexa", 0.6)


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[llm]\nthred = 2\n", {}, "unknown config key 'llm.thred' (did you mean 'llm.threads'?)"),
        ("[lm]\nthreads = 2\n", {}, "unknown config key 'lm'"),
        ('[llm]\nthreads = "two"\n', {}, "'llm.threads' must be an integer"),
        ("[wake]\nthreshold = 1.5\n", {}, "'wake.threshold' must be between 0.0 and 1.0"),
        ('[wake]\nmodel = "siri"\n', {}, "'wake.model' must be one of"),
        ("[llm]\nthreads = true\n", {}, "'llm.threads' must be an integer"),
        ("llm = 3\n", {}, "'llm' must be a table"),
        ("[llm\n", {}, "is not valid TOML"),
        ("", {"SECONDSELF_VAD_FOLLOW_UP_S": "soon"}, "'vad.follow_up_s' must be a number"),
        ("", {"SECONDSELF_LLM_THREDS": "2"}, "unknown config key 'llm.threds'"),
    ],
)
def test_bad_config_names_the_key(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load(tmp_path, text, env)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml", environ={}, system_files=[])
