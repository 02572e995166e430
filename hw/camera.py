"""The camera: one snapshot as JPEG bytes, from OpenCV or from a still-capture command.

Sources (`camera.source`):
- "0", "1" ...: a V4L2 device index (/dev/video0: a USB webcam, or a Pi camera under
  `libcamerify`);
- a text containing "!": a GStreamer pipeline ending in `appsink` (needs an OpenCV built
  with GStreamer, e.g. Raspberry Pi OS's python3-opencv; pip's opencv-python-headless
  has none);
- "cmd:COMMAND": a command that writes one JPEG to stdout, e.g.
  `cmd:rpicam-still -n -t 1 -o - --width 1280 --height 720` (the Pi camera on Bookworm);
- anything else: a video or image file (or a URL), which is how tests stand in a camera.

The device is opened for each snapshot and released at once: no stale buffered frames,
and a webcam's light is only on while a picture is taken. cv2 is imported on first use.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, TypeVar

from secondself.core.errors import SecondselfError, Stage

T = TypeVar("T")
JPEG_MAGIC = b"\xff\xd8\xff"
HINT = "check `camera.source` and run `secondself doctor`"


class Camera(Protocol):
    name: str  # for logs and the memory's provenance: "/dev/video0", "test.avi", ...

    def snapshot(self) -> bytes:
        """One picture as JPEG bytes; SecondselfError (stage camera) when there is none."""
        ...


class SourceKind(StrEnum):
    INDEX = "index"
    PIPELINE = "pipeline"
    COMMAND = "command"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class CameraSource:
    kind: SourceKind
    value: str

    @classmethod
    def parse(cls, text: str) -> CameraSource:
        text = text.strip()
        if text.isdigit():
            return cls(SourceKind.INDEX, text)
        if text.startswith("cmd:"):
            return cls(SourceKind.COMMAND, text.removeprefix("cmd:").strip())
        if "!" in text:
            return cls(SourceKind.PIPELINE, text)
        return cls(SourceKind.FILE, text)

    @property
    def name(self) -> str:
        match self.kind:
            case SourceKind.INDEX:
                return f"/dev/video{self.value}"
            case SourceKind.COMMAND:
                return shlex.split(self.value)[0] if self.value.strip() else "command"
            case SourceKind.PIPELINE:
                return "GStreamer pipeline"
            case SourceKind.FILE:
                return self.value

    def missing(self) -> str | None:
        """Why this source cannot work on this machine, or None if it may (checked at start,
        without opening the device)."""
        match self.kind:
            case SourceKind.INDEX:
                path = Path(self.name)
                return None if path.exists() else f"{path} not found"
            case SourceKind.COMMAND:
                argv = shlex.split(self.value)
                if not argv or shutil.which(argv[0]) is None:
                    return f"command {self.name!r} not found"
                return None
            case SourceKind.PIPELINE:
                return None if has_gstreamer() else "this OpenCV was built without GStreamer"
            case SourceKind.FILE:
                if "://" in self.value or Path(self.value).exists():
                    return None
                return f"{self.value} not found"


def has_gstreamer() -> bool:
    import cv2

    for line in str(cv2.getBuildInformation()).splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line
    return False


def _error(code: str, message: str) -> SecondselfError:
    return SecondselfError(code, message, Stage.CAMERA)


def _with_timeout(work: Callable[[], T], timeout_s: float, what: str) -> T:
    """Runs `work` on a helper thread: a wedged USB camera must not hang the daemon."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # handed over to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="camera", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise _error("camera-timeout", f"{what} did not answer within {timeout_s:g} s; {HINT}")
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


class OpenCvCamera:
    """A snapshot through cv2.VideoCapture: a device index, a file or a GStreamer pipeline."""

    def __init__(
        self,
        source: CameraSource,
        *,
        width: int = 0,
        height: int = 0,
        warmup_frames: int = 5,
        jpeg_quality: int = 85,
        timeout_s: float = 10.0,
    ) -> None:
        if source.kind is SourceKind.COMMAND:
            raise ValueError("a cmd: source is a CommandCamera")
        self.source = source
        self.name = source.name
        self.width = width
        self.height = height
        self.warmup_frames = warmup_frames
        self.jpeg_quality = jpeg_quality
        self.timeout_s = timeout_s

    def snapshot(self) -> bytes:
        return _with_timeout(self._capture, self.timeout_s, f"camera {self.name}")

    def _open(self) -> Any:
        import cv2

        match self.source.kind:
            case SourceKind.INDEX:
                capture = cv2.VideoCapture(int(self.source.value))
                if capture.isOpened() and self.width and self.height:
                    capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
                    capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            case SourceKind.PIPELINE:
                capture = cv2.VideoCapture(self.source.value, cv2.CAP_GSTREAMER)
            case _:
                capture = cv2.VideoCapture(self.source.value)
        if not capture.isOpened():
            capture.release()
            why = self.source.missing() or "OpenCV could not open it"
            raise _error("camera-open-failed", f"cannot open camera {self.name} ({why}); {HINT}")
        return capture

    def _capture(self) -> bytes:
        import cv2

        capture = self._open()
        try:
            frame = None
            # The first frames of a webcam are dark while its exposure settles: keep the
            # last good one of a few (a short video file simply runs out of frames).
            for _ in range(self.warmup_frames + 1):
                ok, image = capture.read()
                if not ok or image is None or image.size == 0:
                    break
                frame = image
        finally:
            capture.release()
        if frame is None:
            raise _error(
                "camera-no-frame", f"camera {self.name} opened but gave no picture; {HINT}"
            )
        ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise _error("camera-encode-failed", f"cannot encode the picture from {self.name}")
        return bytes(encoded.tobytes())


class CommandCamera:
    """A still-capture command printing one JPEG on stdout (`rpicam-still -o -`)."""

    def __init__(self, command: str, *, timeout_s: float = 15.0) -> None:
        self.argv = shlex.split(command)
        if not self.argv:
            raise ValueError("empty camera command")
        self.name = self.argv[0]
        self.timeout_s = timeout_s

    def snapshot(self) -> bytes:
        try:
            done = subprocess.run(
                self.argv,
                capture_output=True,
                timeout=self.timeout_s,
                check=False,
                env={**os.environ, "LIBCAMERA_LOG_LEVELS": "*:ERROR"},
            )
        except FileNotFoundError:
            raise _error("camera-open-failed", f"camera command {self.name!r} not found") from None
        except subprocess.TimeoutExpired:
            raise _error(
                "camera-timeout", f"camera command {self.name!r} took over {self.timeout_s:g} s"
            ) from None
        if done.returncode != 0:
            last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
            raise _error(
                "camera-open-failed",
                f"camera command {self.name!r} failed ({done.returncode}): {last}; {HINT}",
            )
        if not done.stdout.startswith(JPEG_MAGIC):
            raise _error("camera-no-frame", f"camera command {self.name!r} printed no JPEG")
        return done.stdout


def camera_from_source(
    source: str,
    *,
    width: int = 0,
    height: int = 0,
    warmup_frames: int = 5,
    jpeg_quality: int = 85,
) -> Camera:
    parsed = CameraSource.parse(source)
    if parsed.kind is SourceKind.COMMAND:
        return CommandCamera(parsed.value)
    return OpenCvCamera(
        parsed, width=width, height=height, warmup_frames=warmup_frames, jpeg_quality=jpeg_quality
    )
