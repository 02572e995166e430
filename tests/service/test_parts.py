"""The service's parts without models: sd_notify on a real socket, the watchdog stopping
when the event loop hangs, the audio heartbeat, metrics over real HTTP, journald logging."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from secondself.core.events import (
    AnswerDone,
    Listening,
    MemoriesRetrieved,
    MemorySaved,
    NothingHeard,
    Speaking,
    SpeechEnded,
    StageError,
    Transcript,
    WakeDetected,
)
from secondself.service.logs import EventLogger, JournalHandler, decode_fields, encode_fields
from secondself.service.metrics import Metrics, scrape
from secondself.service.run import AudioHeartbeat
from secondself.service.sdnotify import Notifier, keep_alive, watchdog_interval
from secondself.web.server import serve_metrics
from tests.support.loop_thread import LoopThread

pytestmark = pytest.mark.unit

SECRET = "the spare key is under the blue pot"


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """A datagram socket bound where systemd's NOTIFY_SOCKET would be."""
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    yield path, sock
    sock.close()


def received(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


# -- sd_notify ---------------------------------------------------------------------------------


def test_notifier_sends_each_state(notify_socket: tuple[str, socket.socket]) -> None:
    path, sock = notify_socket
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready("ready in 2.0 s")
    assert received(sock) == "READY=1\nSTATUS=ready in 2.0 s"
    notifier.status("microphone missing,\nretrying")
    assert received(sock) == "STATUS=microphone missing, retrying"  # one line
    notifier.watchdog()
    assert received(sock) == "WATCHDOG=1"
    notifier.reloading()
    lines = received(sock).splitlines()
    assert lines[0] == "RELOADING=1" and lines[1].startswith("MONOTONIC_USEC=")
    notifier.stopping("stopping (signal)")
    assert received(sock) == "STOPPING=1\nSTATUS=stopping (signal)"
    notifier.close()


def test_abstract_socket_address() -> None:
    name = f"secondself-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        Notifier(f"@{name}").watchdog()
        assert received(sock) == "WATCHDOG=1"


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier.from_environ({})
    assert not notifier.enabled
    assert not notifier.ready("x")


def test_a_vanished_socket_is_not_fatal(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "gone"))
    assert not notifier.watchdog()
    assert not notifier.watchdog()


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "bad"}) is None
    pid = str(os.getpid())
    assert watchdog_interval({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": pid}) == 1.0
    assert watchdog_interval({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}) is None


# -- the watchdog --------------------------------------------------------------------------------


def drain(sock: socket.socket) -> None:
    sock.settimeout(0)
    while True:
        try:
            sock.recv(4096)
        except BlockingIOError:
            break
    sock.settimeout(5)


INTERVAL = 0.02


def test_watchdog_pings_stop_while_the_event_loop_hangs(
    notify_socket: tuple[str, socket.socket],
) -> None:
    path, sock = notify_socket
    runner = LoopThread()
    try:
        asyncio.run_coroutine_threadsafe(
            keep_alive(Notifier(path), INTERVAL, lambda: None), runner.loop
        )
        assert received(sock) == "WATCHDOG=1"
        release = threading.Event()
        runner.hang(release)
        drain(sock)  # pings sent before the hang began
        sock.settimeout(40 * INTERVAL)  # 40 ping intervals: a live loop would ping ~40 times
        with pytest.raises(TimeoutError):
            sock.recv(4096)
        release.set()
        sock.settimeout(5)
        assert received(sock) == "WATCHDOG=1"  # the loop is back: so are the pings
    finally:
        runner.close()


def test_watchdog_pings_stop_while_unhealthy(
    notify_socket: tuple[str, socket.socket], caplog: pytest.LogCaptureFixture
) -> None:
    path, sock = notify_socket
    problem: list[str | None] = [None]
    runner = LoopThread()
    try:
        asyncio.run_coroutine_threadsafe(
            keep_alive(Notifier(path), INTERVAL, lambda: problem[0]), runner.loop
        )
        assert received(sock) == "WATCHDOG=1"
        with caplog.at_level(logging.ERROR, logger="secondself.service.sdnotify"):
            problem[0] = "no audio frame reached the listener for 12 s"
            drain(sock)
            sock.settimeout(40 * INTERVAL)
            with pytest.raises(TimeoutError):  # at most one ping already on its way
                while True:
                    sock.recv(4096)
        assert "no audio frame reached the listener" in caplog.text
        problem[0] = None
        sock.settimeout(5)
        assert received(sock) == "WATCHDOG=1"
    finally:
        runner.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_audio_heartbeat() -> None:
    clock = FakeClock()
    frames = [0]
    state = ["open"]
    beat = AudioHeartbeat(lambda: frames[0], lambda: state[0], stale_s=10, clock=clock)
    assert beat() is None
    clock.now = 5
    frames[0] = 60  # frames flow
    assert beat() is None
    clock.now = 14  # 9 s without a frame: still within stale_s
    assert beat() is None
    clock.now = 16  # 11 s: the audio path is stuck
    assert "no audio frame" in (beat() or "")
    state[0] = "missing"  # the microphone is unplugged and being retried: not a hang
    assert beat() is None
    clock.now = 100
    assert beat() is None
    state[0] = "open"  # back: the stale clock starts again from when it reopened
    clock.now = 105
    assert beat() is None
    clock.now = 111
    assert beat() is not None
    frames[0] += 1
    assert beat() is None


# -- metrics ---------------------------------------------------------------------------------------


def conversation_events() -> list[object]:
    return [
        WakeDetected(model="hey_jarvis", score=0.9),
        Listening(follow_up=False),
        SpeechEnded(duration_s=2.0, reason="silence", t=10.0),
        Transcript(text=SECRET, duration_s=2.0, seconds=0.3),
        MemoriesRetrieved(ids=(1,), seconds=0.02),
        Speaking(sentence=SECRET, synth_s=0.2, t=10.8),
        AnswerDone(text=SECRET, backend="local", first_token_s=0.4, seconds=1.2, tokens=9),
        MemorySaved(memory_id=1, kind="note", source="voice"),
        Listening(follow_up=True),
        NothingHeard(waited_s=5.0),  # after a reply: no follow-up, not a false wake
        WakeDetected(model="hey_jarvis", score=0.7),
        Listening(follow_up=False),
        NothingHeard(waited_s=4.0),  # after a wake: a false wake
        StageError(stage="memory", code="memory-disk-full", message="disk full"),
    ]


def test_metrics_count_events() -> None:
    metrics = Metrics()
    for event in conversation_events():
        metrics.observe(event)  # type: ignore[arg-type]
    text = metrics.render()
    values = scrape(text.splitlines())
    assert values["secondself_wakes_total"] == 2
    assert values["secondself_false_wakes_total"] == 1
    assert values["secondself_follow_up_timeouts_total"] == 1
    assert values['secondself_memories_saved_total{kind="note",source="voice"}'] == 1
    # prometheus_client writes a series' labels in name order, `le` among them.
    assert values['secondself_errors_total{code="memory-disk-full",stage="memory"}'] == 1
    assert values['secondself_answers_total{backend="local"}'] == 1
    assert values["secondself_backoffs_total"] == 0
    assert values['secondself_stage_seconds_count{stage="stt"}'] == 1
    assert values['secondself_stage_seconds_bucket{le="0.5",stage="stt"}'] == 1
    assert values['secondself_stage_seconds_bucket{le="0.25",stage="stt"}'] == 0
    assert values['secondself_stage_seconds_bucket{le="+Inf",stage="answer"}'] == 1
    assert values["secondself_reply_latency_seconds_sum"] == pytest.approx(0.8)
    assert values["process_resident_memory_bytes"] > 10e6
    assert 0 < values["process_anonymous_memory_bytes"] < values["process_resident_memory_bytes"]
    assert values["process_open_fds"] > 0
    assert "# TYPE secondself_stage_seconds histogram" in text
    assert SECRET not in text


def test_reply_latency_with_a_speculative_reply() -> None:
    """A reply may start before the endpointer is sure the user stopped: the wait is 0."""
    metrics = Metrics()
    for event in [
        Listening(follow_up=False),
        Speaking(sentence="Biscuit.", synth_s=0.1, t=5.0),
        SpeechEnded(duration_s=1.0, reason="silence", t=5.2),
        Listening(follow_up=True),
        SpeechEnded(duration_s=1.0, reason="silence", t=9.0),
        Speaking(sentence="Yes.", synth_s=0.1, t=9.5),
    ]:
        metrics.observe(event)
    values = scrape(metrics.render().splitlines())
    assert values["secondself_reply_latency_seconds_count"] == 2
    assert values["secondself_reply_latency_seconds_sum"] == pytest.approx(0.5)


@pytest.fixture
def metrics_server() -> Iterator[tuple[Metrics, int]]:
    metrics = Metrics()
    runner = LoopThread()
    started = serve_metrics(metrics.render, "127.0.0.1", 0)  # /metrics alone: no page, no token
    server = asyncio.run_coroutine_threadsafe(started, runner.loop).result(5)
    yield metrics, server.port
    runner.loop.call_soon_threadsafe(server.close)
    runner.close()


def test_metrics_over_http(metrics_server: tuple[Metrics, int]) -> None:
    metrics, port = metrics_server
    metrics.observe(WakeDetected(model="hey_jarvis", score=0.9))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        values = scrape(response.read().decode().splitlines())
    assert values["secondself_wakes_total"] == 1
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/memories", timeout=5)
    assert missing.value.code == 404
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", method="POST", data=b"")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 405


def test_metrics_alone_answer_only_this_servers_names(
    metrics_server: tuple[Metrics, int],
) -> None:
    """Served without the page (no token could be made): a DNS-rebinding page is refused."""
    _, port = metrics_server
    for host, status in (("evil.example", 421), (f"localhost:{port}", 200), ("127.0.0.1", 200)):
        request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Host": host})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                got = response.status
        except urllib.error.HTTPError as refused:
            got = refused.code
        assert got == status, host


def test_metrics_server_survives_garbage(metrics_server: tuple[Metrics, int]) -> None:
    _, port = metrics_server
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"\x00\x01garbage\r\n\r\n")
        assert conn.recv(100).startswith(b"HTTP/1.1 400")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.status == 200


# -- logs ------------------------------------------------------------------------------------------


def test_journal_fields_round_trip() -> None:
    fields = {"MESSAGE": "two\nlines", "STAGE": "stt", "PRIORITY": "6"}
    assert decode_fields(encode_fields(fields)) == fields


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[tuple[logging.Logger, socket.socket]]:
    """A logger whose records go to a datagram socket standing in for journald's."""
    path = str(tmp_path / "journal")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    logger = logging.getLogger(f"secondself.test.{tmp_path.name}")
    logger.propagate = False
    handler = JournalHandler(path)
    logger.addHandler(handler)
    yield logger, sock
    logger.removeHandler(handler)
    handler.close()
    sock.close()


def entry(sock: socket.socket) -> dict[str, str]:
    return decode_fields(sock.recv(65536))


def test_events_reach_journald_as_structured_fields(
    journal: tuple[logging.Logger, socket.socket],
) -> None:
    logger, sock = journal
    logger.setLevel(logging.INFO)
    events = EventLogger(logger)
    events(Transcript(text=SECRET, duration_s=2.0, seconds=0.25))
    fields = entry(sock)
    assert fields["STAGE"] == "stt"
    assert fields["DURATION_S"] == "0.2500"
    assert fields["EVENT"] == "Transcript"
    assert fields["PRIORITY"] == "6"
    assert fields["SYSLOG_IDENTIFIER"] == "secondself"
    assert "<35 chars>" in fields["MESSAGE"]
    events(StageError(stage="memory", code="memory-disk-full", message="database or disk is full"))
    fields = entry(sock)
    assert (fields["STAGE"], fields["ERROR_CODE"], fields["PRIORITY"]) == (
        "memory",
        "memory-disk-full",
        "3",
    )


@pytest.mark.parametrize("level", [logging.INFO, logging.WARNING])
def test_no_text_above_debug(journal: tuple[logging.Logger, socket.socket], level: int) -> None:
    logger, sock = journal
    logger.setLevel(level)
    events = EventLogger(logger)
    for event in conversation_events():
        events(event)  # type: ignore[arg-type]
    sock.settimeout(0.2)
    seen: list[dict[str, str]] = []
    with pytest.raises(TimeoutError):
        while True:
            seen.append(entry(sock))
    assert seen  # at least the error
    assert all(SECRET not in f["MESSAGE"] for f in seen)
    assert all(int(f["PRIORITY"]) < 7 for f in seen)


def test_text_only_at_debug(journal: tuple[logging.Logger, socket.socket]) -> None:
    logger, sock = journal
    logger.setLevel(logging.DEBUG)
    EventLogger(logger)(Transcript(text=SECRET, duration_s=2.0, seconds=0.25))
    fields = entry(sock)
    assert SECRET in fields["MESSAGE"]
    assert fields["PRIORITY"] == "7"  # the record with the text is itself a debug record
