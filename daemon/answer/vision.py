"""A vision model's description of a photo, saved with (never instead of) the spoken caption.

Two kinds, chosen by `camera.vision`:
- `cloud`: the [cloud] OpenAI-compatible endpoint, asked through the cloud client (its
  connection, timeouts, API key and circuit breaker), with the JPEG as a data: URL. A photo
  is the user's data: it is sent only for a persona whose backoff policy is
  `with-memories`; under `never` and `without-memories` no captioner is made at all.
- `local`: a llama.cpp multimodal GGUF with its projector (mmproj), through a llama-cpp
  chat handler of the model's family (LLaVA 1.5 and the like). Nothing leaves the device.

A description runs on its own thread while the user says the caption (`PendingCaption`);
a failure or a timeout costs the photo only the description, with one log line.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from secondself.answer.backoff import BackoffPolicy
from secondself.answer.cloud_client import CloudAnswerModel
from secondself.core.config import VISION_HANDLERS, Config
from secondself.core.errors import ConfigError, SecondselfError, Stage
from secondself.core.protocols import ChatMessage

log = logging.getLogger(__name__)

PROMPT = (
    "Describe this photo in one short sentence for a photo album: what is in it, and where. "
    "No preamble."
)
MAX_TOKENS = 60
MAX_CHARS = 200  # a description is a caption, not an essay: it goes into every answer
# What models put before the description itself (whole words and a comma: never a cut
# into 'The picture frame ...' or 'The photographer ...').
_PREAMBLE = re.compile(
    r"^(?:sure[,.!]?\s*)?(?:(?:this|the) (?:image|photo|photograph|picture) "
    r"(?:shows|depicts|features|contains|is of)\b"
    r"|(?:in )?(?:this|the) (?:image|photo|picture)\s*[,:])\s*",
    re.IGNORECASE,
)


class Captioner(Protocol):
    name: str  # for logs and the memory's provenance

    def caption(self, jpeg: bytes) -> str:
        """A short description of the picture; SecondselfError when there is none.
        Blocking (seconds): call it from a worker thread."""
        ...


def clean_caption(text: str) -> str:
    """One line, no preamble or quotes, at most MAX_CHARS (cut at a word)."""
    text = " ".join(text.split()).strip(" \"'")
    text = _PREAMBLE.sub("", text).strip(" :,")
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS].rsplit(" ", 1)[0].rstrip(",;:")
    text = text.rstrip(".")
    first, _, rest = text.partition(" ")
    if first in ("A", "An", "The", "Some"):  # mid-sentence after "The camera saw:"
        text = f"{first.lower()} {rest}"
    return text


def data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def image_content(text: str, jpeg: bytes) -> list[dict[str, Any]]:
    """An OpenAI-style user message content: the text, then the picture."""
    return [
        {"type": "text", "text": text},
        {"type": "image_url", "image_url": {"url": data_url(jpeg)}},
    ]


# --- cloud ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImageMessage(ChatMessage):
    """A chat message that carries a picture with its text (sent as content parts)."""

    jpeg: bytes = b""

    def parts(self) -> list[dict[str, Any]]:
        return image_content(self.content, self.jpeg)


class CloudCaptioner(CloudAnswerModel):
    """The cloud client asked to describe a photo: one non-streamed chat completion whose
    message carries the JPEG (OpenAI's `image_url` with a data: URL). Everything else, the
    connection, the three timeouts, the API key and the breaker, is the cloud client's."""

    def caption(self, jpeg: bytes) -> str:
        text = clean_caption(self.complete([ImageMessage("user", PROMPT, jpeg)], MAX_TOKENS))
        if not text:
            raise SecondselfError(
                "vision-empty", f"{self.endpoint} described nothing", Stage.CAMERA
            )
        return text

    def __repr__(self) -> str:
        return f"CloudCaptioner({self.name!r} at {self.endpoint})"


# --- llama.cpp --------------------------------------------------------------------------

# camera.vision_handler -> llama_cpp.llama_chat_format class (all take the projector path).
HANDLERS = dict(
    zip(
        VISION_HANDLERS,
        (
            "Llava15ChatHandler",
            "Llava16ChatHandler",
            "MoondreamChatHandler",
            "NanoLlavaChatHandler",
            "MiniCPMv26ChatHandler",
            "Qwen25VLChatHandler",
        ),
        strict=True,
    )
)


class LlamaCaptioner:
    """A multimodal GGUF and its projector in llama.cpp, loaded on the first photo (it is
    large, and most days see no photo). One description at a time."""

    def __init__(
        self,
        model: str | Path,
        projector: str | Path,
        handler: str = "llava-1.5",
        *,
        threads: int = 1,
        context: int = 2048,
    ) -> None:
        paths: list[Path] = []
        for key, given in (("camera.vision_model", model), ("camera.vision_projector", projector)):
            if not str(given).strip():
                raise ConfigError(f"config key '{key}' must be set when camera.vision = \"local\"")
            path = Path(given).expanduser()
            if not path.is_file():
                raise ConfigError(f"config key '{key}': {path} not found")
            paths.append(path)
        model, projector = paths
        if handler not in HANDLERS:
            choices = ", ".join(HANDLERS)
            raise ConfigError(f"config key 'camera.vision_handler' must be one of {choices}")
        self.name = model.name
        self.model = model
        self.projector = projector
        self.handler = handler
        self.threads = threads
        self.context = context
        self._lock = threading.Lock()
        self._llm: Any = None

    def caption(self, jpeg: bytes) -> str:
        message = {"role": "user", "content": image_content(PROMPT, jpeg)}
        with self._lock:
            llm = self._load()
            try:
                reply = llm.create_chat_completion(
                    messages=[message], max_tokens=MAX_TOKENS, temperature=0.0
                )
            except Exception as exc:  # llama.cpp raises bare errors
                raise SecondselfError(
                    "vision-failed",
                    f"{self.name} could not describe the photo: {exc}",
                    Stage.CAMERA,
                ) from exc
        text = clean_caption(str(reply["choices"][0]["message"]["content"] or ""))
        if not text:
            raise SecondselfError("vision-empty", f"{self.name} described nothing", Stage.CAMERA)
        return text

    def _load(self) -> Any:
        if self._llm is None:
            from llama_cpp import Llama, llama_chat_format

            try:
                chat_handler = getattr(llama_chat_format, HANDLERS[self.handler])(
                    clip_model_path=str(self.projector), verbose=False
                )
                self._llm = Llama(
                    model_path=str(self.model),
                    chat_handler=chat_handler,
                    n_ctx=self.context,
                    n_threads=self.threads,
                    verbose=False,
                )
            except Exception as exc:  # a file that is not a GGUF, or not this family's
                raise SecondselfError(
                    "vision-load-failed",
                    f"cannot load {self.model.name} with projector {self.projector.name}"
                    f" ({self.handler}): {exc}",
                    Stage.CAMERA,
                ) from exc
        return self._llm


# --- from the config --------------------------------------------------------------------


def captioner_for(config: Config, backoff: BackoffPolicy | str, off: list[str]) -> Captioner | None:
    """The configured captioner, or None (with the reason appended to `off` when vision
    was asked for). `backoff`: the persona's policy, which decides whether a photo may go
    to the cloud. A bad local set-up (file missing) is a ConfigError: one line, at start."""
    camera = config.camera
    if camera.vision == "local":
        return LlamaCaptioner(
            camera.vision_model,
            camera.vision_projector,
            camera.vision_handler,
            threads=config.llm.threads,
        )
    if camera.vision != "cloud":
        return None
    if BackoffPolicy(backoff) is not BackoffPolicy.WITH_MEMORIES:
        off.append(
            f"photo descriptions off: the persona's backoff policy is {str(backoff)!r}; "
            "a photo goes to the cloud only under 'with-memories'"
        )
        return None
    if not config.cloud.enabled:
        off.append('photo descriptions off: camera.vision = "cloud" needs cloud.enabled')
        return None
    model = camera.vision_model or config.cloud.model
    cloud = dataclasses.replace(config.cloud, model=model)
    # Not on the bus: a failure is this module's one log line, not a cloud event as well.
    client = CloudCaptioner.from_config(dataclasses.replace(config, cloud=cloud))
    return client if isinstance(client, CloudCaptioner) else None


# --- while the user speaks --------------------------------------------------------------


class PendingCaption:
    """A description being made on its own thread (started at once) while the user says
    the caption. `result` gives it, or "" with one log line when it failed or is late."""

    def __init__(self, captioner: Captioner, jpeg: bytes) -> None:
        self.captioner = captioner
        self.started = time.monotonic()
        self._done = threading.Event()
        self._text = ""
        self._error: BaseException | None = None
        threading.Thread(target=self._run, args=(jpeg,), name="vision", daemon=True).start()

    def _run(self, jpeg: bytes) -> None:
        try:
            self._text = self.captioner.caption(jpeg)
        except BaseException as exc:  # handed to `result`, on the caller's thread
            self._error = exc
        finally:
            self._done.set()

    def result(self, timeout_s: float, give_up: threading.Event | None = None) -> str:
        """Wait at most `timeout_s` (less if `give_up` is set: shutting down)."""
        end = time.monotonic() + timeout_s
        while not self._done.wait(min(0.05, max(0.0, end - time.monotonic()))):
            if time.monotonic() >= end or (give_up is not None and give_up.is_set()):
                log.warning(
                    "vision: %s gave no description within %.0f s; the photo is saved "
                    "with the spoken caption only",
                    self.captioner.name,
                    time.monotonic() - self.started,
                )
                return ""
        if self._error is not None:
            error = self._error
            why = error.message if isinstance(error, SecondselfError) else repr(error)
            code = error.code if isinstance(error, SecondselfError) else "vision-failed"
            log.warning(
                "vision: %s failed (%s): %s; the photo is saved with the spoken caption only",
                self.captioner.name,
                code,
                why,
            )
            return ""
        log.info(
            "vision: %s described the photo in %.1f s",
            self.captioner.name,
            time.monotonic() - self.started,
        )
        return self._text
