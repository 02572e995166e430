"""Errors carry a code and the stage they came from; the orchestrator decides what to do."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    SETUP = "setup"
    CONFIG = "config"
    AUDIO = "audio"
    WAKE = "wake"
    VAD = "vad"
    TURN = "turn"
    STT = "stt"
    INTENT = "intent"
    MEMORY = "memory"
    EMBED = "embed"
    ANSWER = "answer"
    TTS = "tts"
    CAMERA = "camera"
    BUTTON = "button"


class SecondselfError(Exception):
    """A fault with a stable code, the stage it happened in and a one-line message."""

    exit_code = 1

    def __init__(self, code: str, message: str, stage: Stage | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.stage = stage
        self.message = message

    def __str__(self) -> str:
        return self.message


class UserError(SecondselfError):
    """The user asked for something invalid (bad input, unknown id, bad config): exit 2."""

    exit_code = 2


class ConfigError(UserError):
    def __init__(self, message: str) -> None:
        super().__init__("config-invalid", message, Stage.CONFIG)


class ModelError(SecondselfError):
    """A model file is missing, corrupt or failed to load."""

    def __init__(self, message: str, stage: Stage | None = None) -> None:
        super().__init__("model-unavailable", message, stage)
