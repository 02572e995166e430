"""The camera: a video file written at test time stands in for one (no media committed)."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from secondself.core.errors import SecondselfError, Stage
from secondself.hw.camera import (
    CameraSource,
    CommandCamera,
    OpenCvCamera,
    SourceKind,
    camera_from_source,
)

pytestmark = pytest.mark.unit

SIZE = (160, 120)  # width, height


def write_video(path: Path, frames: int, color: tuple[int, int, int] = (0, 0, 255)) -> Path:
    """An MJPG AVI of `frames` frames: a coloured square moving over grey."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, SIZE)
    assert writer.isOpened()
    for i in range(frames):
        image = np.full((SIZE[1], SIZE[0], 3), 128, np.uint8)
        x = 10 + 10 * i
        image[40:80, x : x + 40] = color
        writer.write(image)
    writer.release()
    return path


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


@pytest.mark.parametrize(
    ("text", "kind", "name"),
    [
        ("0", SourceKind.INDEX, "/dev/video0"),
        (" 2 ", SourceKind.INDEX, "/dev/video2"),
        ("cmd:rpicam-still -n -o -", SourceKind.COMMAND, "rpicam-still"),
        ("libcamerasrc ! videoconvert ! appsink", SourceKind.PIPELINE, "GStreamer pipeline"),
        ("/tmp/x.avi", SourceKind.FILE, "/tmp/x.avi"),
    ],
)
def test_sources(text: str, kind: SourceKind, name: str) -> None:
    source = CameraSource.parse(text)
    assert (source.kind, source.name) == (kind, name)


def test_missing_sources_say_why(tmp_path: Path) -> None:
    assert CameraSource.parse("57").missing() == "/dev/video57 not found"
    assert "not found" in str(CameraSource.parse(str(tmp_path / "none.avi")).missing())
    assert "not found" in str(CameraSource.parse("cmd:no-such-camera-tool -o -").missing())
    assert CameraSource.parse(str(write_video(tmp_path / "v.avi", 2))).missing() is None


def test_snapshot_from_a_video_file_is_a_jpeg_of_a_late_warmup_frame(tmp_path: Path) -> None:
    video = write_video(tmp_path / "camera.avi", frames=8)
    camera = OpenCvCamera(CameraSource.parse(str(video)), warmup_frames=3, jpeg_quality=90)
    jpeg = camera.snapshot()
    assert jpeg.startswith(b"\xff\xd8\xff")
    image = decode(jpeg)
    assert image.shape == (SIZE[1], SIZE[0], 3)
    # Frame 4 (after 3 warm-up frames) has the square at x = 40..80: red there, grey left.
    assert image[60, 60, 2] > 200 and image[60, 60, 0] < 60
    assert abs(int(image[60, 20, 2]) - 128) < 30
    assert camera.snapshot() == jpeg  # each snapshot reopens the source


def test_short_video_gives_its_last_frame(tmp_path: Path) -> None:
    camera = camera_from_source(str(write_video(tmp_path / "two.avi", 2)), warmup_frames=10)
    assert decode(camera.snapshot()).shape[:2] == (SIZE[1], SIZE[0])


def test_camera_that_does_not_open_is_a_clear_error(tmp_path: Path) -> None:
    camera = camera_from_source(str(tmp_path / "unplugged.avi"))
    with pytest.raises(SecondselfError) as raised:
        camera.snapshot()
    assert raised.value.code == "camera-open-failed"
    assert raised.value.stage is Stage.CAMERA
    assert "unplugged.avi not found" in raised.value.message


def test_camera_that_gives_no_frame_is_a_clear_error(tmp_path: Path) -> None:
    empty = write_video(tmp_path / "empty.avi", frames=0)  # opens, but has no picture
    with pytest.raises(SecondselfError) as raised:
        camera_from_source(str(empty)).snapshot()
    assert raised.value.code == "camera-no-frame"
    assert "gave no picture" in raised.value.message


def test_command_camera_reads_a_jpeg_from_stdout(tmp_path: Path) -> None:
    ok, encoded = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    assert ok
    still = tmp_path / "still.jpg"
    still.write_bytes(encoded.tobytes())
    script = f"import sys; sys.stdout.buffer.write(open({str(still)!r}, 'rb').read())"
    camera = CommandCamera(f"{sys.executable} -c {script!r}")
    assert camera.snapshot() == still.read_bytes()


@pytest.mark.parametrize(
    ("script", "code"),
    [
        ("import sys; sys.exit('no camera found')", "camera-open-failed"),
        ("print('hi')", "camera-no-frame"),
    ],
)
def test_command_camera_errors(script: str, code: str) -> None:
    camera = CommandCamera(f"{sys.executable} -c {script!r}")
    with pytest.raises(SecondselfError) as raised:
        camera.snapshot()
    assert raised.value.code == code
    if code == "camera-open-failed":
        assert "no camera found" in raised.value.message


def test_a_wedged_camera_times_out(tmp_path: Path) -> None:
    camera = CommandCamera(f"{sys.executable} -c 'import time; time.sleep(5)'", timeout_s=0.3)
    with pytest.raises(SecondselfError) as raised:
        camera.snapshot()
    assert raised.value.code == "camera-timeout"
