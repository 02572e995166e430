"""One typed, frozen configuration tree, read from TOML files and SECONDSELF_* variables.

Validation happens once, at start; a bad key or value stops start-up with a one-line
message that names the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from secondself.core.errors import ConfigError

ENV_PREFIX = "SECONDSELF_"
LEVELS = ("debug", "info", "warning", "error")
WAKE_MODELS = ("hey_jarvis", "alexa", "hey_mycroft", "hey_marvin")


@dataclass(frozen=True, slots=True)
class AudioConfig:
    input_device: str = ""
    output_device: str = ""
    retry_s: float = 5.0


@dataclass(frozen=True, slots=True)
class WakeConfig:
    model: str = "hey_jarvis"
    threshold: float = 0.5
    refractory_s: float = 2.0


@dataclass(frozen=True, slots=True)
class VadConfig:
    threshold: float = 0.5
    trailing_silence_s: float = 0.6
    max_utterance_s: float = 15.0
    no_speech_timeout_s: float = 4.0
    follow_up_s: float = 5.0
    speculate_after_s: float = 0.25


@dataclass(frozen=True, slots=True)
class TurnConfig:
    model: str = "smart-turn-v3"  # "" = silence alone ends a turn
    threshold: float = 0.5
    complete_silence_s: float = 0.24
    incomplete_silence_s: float = 2.0
    threads: int = 1


@dataclass(frozen=True, slots=True)
class SttConfig:
    engine: str = "moonshine"
    whisper_model: str = "whisper-tiny.en"
    threads: int = 1
    beam_size: int = 1


@dataclass(frozen=True, slots=True)
class LlmConfig:
    model: str = "qwen2.5-0.5b-instruct"
    threads: int = 1
    context: int = 2048
    max_tokens: int = 96
    temperature: float = 0.0
    ram_budget_mb: int = 1024  # answer models held loaded at once (model_pool.py); 0 = no limit


@dataclass(frozen=True, slots=True)
class EmbedConfig:
    model: str = "all-minilm-l6-v2"
    threads: int = 1


@dataclass(frozen=True, slots=True)
class TtsConfig:
    voice: str = "en_US-joe-medium"


@dataclass(frozen=True, slots=True)
class MemoryConfig:
    top_k: int = 5


@dataclass(frozen=True, slots=True)
class ModelsConfig:
    dir: str = ""


@dataclass(frozen=True, slots=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    tls: bool = False  # HTTPS with the data home's self-signed certificate
    behind_proxy: bool = False  # a reverse proxy in front does TLS: plain HTTP here


@dataclass(frozen=True, slots=True)
class LogConfig:
    level: str = "info"


@dataclass(frozen=True, slots=True)
class GpioConfig:
    pin_factory: str = ""


@dataclass(frozen=True, slots=True)
class ButtonConfig:
    enabled: bool = True
    pin: int = 17
    hold_s: float = 0.8
    double_s: float = 0.4
    short: str = "memo"
    long: str = "snapshot"
    double: str = "mute"
    memo_max_s: float = 60.0
    memo_silence_s: float = 1.5


@dataclass(frozen=True, slots=True)
class CameraConfig:
    enabled: bool = True
    source: str = "0"
    width: int = 1280
    height: int = 720
    warmup_frames: int = 5
    jpeg_quality: int = 85
    caption_s: float = 6.0
    vision: str = "none"  # none | cloud | local: a vision model's description too
    vision_model: str = ""
    vision_projector: str = ""
    vision_handler: str = "llava-1.5"
    vision_wait_s: float = 20.0


@dataclass(frozen=True, slots=True)
class LedConfig:
    kind: str = "pwm"
    pins: str = "27"
    active_high: bool = True


@dataclass(frozen=True, slots=True)
class EarconsConfig:
    enabled: bool = True
    volume: float = 0.3


@dataclass(frozen=True, slots=True)
class CloudConfig:
    """An OpenAI-compatible endpoint a persona may back off to (off unless enabled)."""

    enabled: bool = False
    base_url: str = ""
    model: str = ""
    api_key_env: str = "SECONDSELF_API_KEY"
    api_key_file: str = ""
    connect_timeout_s: float = 3.0
    first_token_timeout_s: float = 10.0
    timeout_s: float = 30.0
    breaker_failures: int = 3
    breaker_open_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Config:
    audio: AudioConfig = field(default_factory=AudioConfig)
    wake: WakeConfig = field(default_factory=WakeConfig)
    vad: VadConfig = field(default_factory=VadConfig)
    turn: TurnConfig = field(default_factory=TurnConfig)
    stt: SttConfig = field(default_factory=SttConfig)
    llm: LlmConfig = field(default_factory=LlmConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    tts: TtsConfig = field(default_factory=TtsConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    web: WebConfig = field(default_factory=WebConfig)
    log: LogConfig = field(default_factory=LogConfig)
    gpio: GpioConfig = field(default_factory=GpioConfig)
    button: ButtonConfig = field(default_factory=ButtonConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    led: LedConfig = field(default_factory=LedConfig)
    earcons: EarconsConfig = field(default_factory=EarconsConfig)
    cloud: CloudConfig = field(default_factory=CloudConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Range and choice checks, by dotted key. Each returns an error text or None.
def _between(lo: float, hi: float) -> Any:
    return lambda v: None if lo <= v <= hi else f"must be between {lo} and {hi}, got {v}"


def _positive(v: float) -> str | None:
    return None if v > 0 else f"must be greater than 0, got {v}"


def _one_of(*choices: str) -> Any:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}; got {v!r}"


BUTTON_ACTIONS = ("memo", "snapshot", "mute", "none")
# llama.cpp multimodal chat handlers, by model family (secondself.answer.vision maps them).
VISION_HANDLERS = (
    "llava-1.5",
    "llava-1.6",
    "moondream2",
    "nanollava",
    "minicpm-v-2.6",
    "qwen2.5-vl",
)
PIN_FACTORIES = ("", "lgpio", "rpigpio", "pigpio", "native", "mock")


def _pin_list(v: str) -> str | None:
    pins = [p.strip() for p in v.split(",")]
    if v.strip() and all(p.isdigit() and int(p) <= 53 for p in pins):
        return None
    return f'must be BCM pin numbers separated by commas, e.g. "27" or "5,6,13"; got {v!r}'


def _http_url(v: str) -> str | None:
    ok = v == "" or (v.startswith(("http://", "https://")) and len(v.split("://", 1)[1]) > 0)
    return None if ok else f"must be an http:// or https:// URL (or empty), got {v!r}"


CHECKS: dict[str, Any] = {
    "audio.retry_s": _positive,
    "wake.model": _one_of(*WAKE_MODELS),
    "wake.threshold": _between(0.0, 1.0),
    "wake.refractory_s": _between(0.0, 60.0),
    "vad.threshold": _between(0.0, 1.0),
    "vad.trailing_silence_s": _between(0.1, 5.0),
    "vad.max_utterance_s": _between(1.0, 300.0),
    "vad.no_speech_timeout_s": _between(0.5, 60.0),
    "vad.follow_up_s": _between(0.0, 60.0),
    "vad.speculate_after_s": _between(0.0, 5.0),
    "turn.threshold": _between(0.0, 1.0),
    "turn.complete_silence_s": _between(0.08, 5.0),
    "turn.incomplete_silence_s": _between(0.1, 10.0),
    "turn.threads": _between(1, 64),
    "stt.engine": _one_of("moonshine", "whisper"),
    "stt.threads": _between(1, 64),
    "stt.beam_size": _between(1, 10),
    "llm.threads": _between(1, 64),
    "llm.context": _between(256, 131072),
    "llm.max_tokens": _between(1, 4096),
    "llm.temperature": _between(0.0, 2.0),
    "llm.ram_budget_mb": _between(0, 1_000_000),
    "embed.threads": _between(1, 64),
    "memory.top_k": _between(1, 100),
    "web.port": _between(1, 65535),
    "log.level": _one_of(*LEVELS),
    "gpio.pin_factory": _one_of(*PIN_FACTORIES),
    "button.pin": _between(0, 53),
    "button.hold_s": _between(0.2, 10.0),
    "button.double_s": _between(0.0, 2.0),
    "button.short": _one_of(*BUTTON_ACTIONS),
    "button.long": _one_of(*BUTTON_ACTIONS),
    "button.double": _one_of(*BUTTON_ACTIONS),
    "button.memo_max_s": _between(1.0, 600.0),
    "button.memo_silence_s": _between(0.3, 10.0),
    "camera.width": _between(0, 8192),
    "camera.height": _between(0, 8192),
    "camera.warmup_frames": _between(0, 100),
    "camera.jpeg_quality": _between(10, 100),
    "camera.caption_s": _between(0.0, 60.0),
    "camera.vision": _one_of("none", "cloud", "local"),
    "camera.vision_handler": _one_of(*VISION_HANDLERS),
    "camera.vision_wait_s": _between(0.0, 600.0),
    "led.kind": _one_of("pwm", "rgb", "none"),
    "led.pins": _pin_list,
    "earcons.volume": _between(0.0, 1.0),
    "cloud.base_url": _http_url,
    "cloud.connect_timeout_s": _between(0.1, 60.0),
    "cloud.first_token_timeout_s": _between(0.1, 600.0),
    "cloud.timeout_s": _between(0.1, 600.0),
    "cloud.breaker_failures": _between(1, 100),
    "cloud.breaker_open_s": _between(0.0, 86400.0),
}


def default_files() -> list[Path]:
    """System then user config files, in the order they are applied."""
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [Path("/etc/secondself/config.toml"), xdg / "secondself" / "config.toml"]


def load_config(
    extra_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    system_files: list[Path] | None = None,
) -> Config:
    """Defaults, then system/user files, then `extra_file`, then the environment."""
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    default_text = resources.files("secondself.core").joinpath("default_config.toml").read_text()
    _merge(merged, _parse_toml(default_text, "default config"))
    files = default_files() if system_files is None else system_files
    for path in files:
        if path.is_file():
            _merge(merged, _read_file(path))
    if extra_file is not None:
        if not extra_file.is_file():
            raise ConfigError(f"config file not found: {extra_file}")
        _merge(merged, _read_file(extra_file))
    _merge(merged, _from_environment(environ))
    config: Config = _build(Config, merged, "")
    _check_web(config.web)
    return config


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only ("localhost", 127.0.0.0/8, ::1)."""
    name = host.strip("[]").lower()
    try:
        return name == "localhost" or ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _check_web(web: WebConfig) -> None:
    """Tokens cross a network only encrypted: beyond loopback, TLS here or at a proxy."""
    if not (is_loopback(web.host) or web.tls or web.behind_proxy):
        raise ConfigError(
            f"config key 'web.host' = {web.host!r} serves beyond this machine: set "
            "web.tls = true (HTTPS, a self-signed certificate) or web.behind_proxy = true "
            "(a reverse proxy in front does TLS)"
        )


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    return _parse_toml(text, str(path))


def _parse_toml(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin} is not valid TOML: {exc}") from exc


def _merge(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """SECONDSELF_LLM_THREADS=2 -> {"llm": {"threads": "2"}} (strings, converted later)."""
    out: dict[str, Any] = {}
    sections = {f.name for f in dataclasses.fields(Config)}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section, _, key = rest.partition("_")
        if section not in sections or not key:
            continue  # SECONDSELF_HOME and friends are not config keys
        out.setdefault(section, {})[key] = _EnvString(value)
    return out


class _EnvString(str):
    """A value from the environment: converted to the field's type, not type-checked."""


def _build(cls: type[Any], data: Mapping[str, Any], prefix: str) -> Any:
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            dotted = f"{prefix}{key}"
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown config key '{dotted}'{hint}")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        dotted = f"{prefix}{f.name}"
        hint = hints[f.name]
        raw = data[f.name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(raw, Mapping):
                raise ConfigError(f"config key '{dotted}' must be a table ([{dotted}])")
            values[f.name] = _build(hint, raw, dotted + ".")  # type: ignore[arg-type]
            continue
        value = _convert(raw, hint, dotted)
        check = CHECKS.get(dotted)
        problem = check(value) if check else None
        if problem:
            raise ConfigError(f"config key '{dotted}' {problem}")
        values[f.name] = value
    return cls(**values)


def _convert(raw: Any, hint: Any, dotted: str) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        hint = next(a for a in get_args(hint) if a is not type(None))
    from_env = isinstance(raw, _EnvString)
    try:
        if hint is bool:
            if from_env:
                lowered = raw.lower()
                if lowered in ("1", "true", "yes", "on"):
                    return True
                if lowered in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            if isinstance(raw, bool):
                return raw
            raise ValueError
        if hint is int:
            if from_env:
                return int(raw)
            if isinstance(raw, int) and not isinstance(raw, bool):
                return raw
            raise ValueError
        if hint is float:
            if from_env:
                return float(raw)
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                return float(raw)
            raise ValueError
        if hint is str:
            if isinstance(raw, str):
                return str(raw)
            raise ValueError
    except ValueError:
        pass
    kind = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    raise ConfigError(f"config key '{dotted}' must be {kind.get(hint, hint)}, got {raw!r}")
