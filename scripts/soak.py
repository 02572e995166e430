#!/usr/bin/env python3
"""Soak test: many spoken conversations through the real daemon and the virtual sound card.

Starts `secondself run` as systemd would (NOTIFY_SOCKET, WATCHDOG_USEC, structured logs),
speaks "Hey Jarvis, remember that ..." and "Hey Jarvis, what is ...?" lines into its
microphone with the piper voice, waits for each reply, and watches the process from outside:
resident memory, open file descriptors, threads, watchdog pings, errors. Passes when there
are no errors, every conversation got a reply, RSS grew less than 5 % after the warm-up and
file descriptors did not grow.

    .venv/bin/python scripts/soak.py                     # 300 conversations
    .venv/bin/python scripts/soak.py --conversations 4   # a short run (the tests use it)

Needs the models (`make setup`) and the test tools (`make test` installs PulseAudio).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from secondself.core.paths import models_dir
from secondself.service.metrics import anonymous_rss_bytes, rss_bytes, scrape
from secondself.voice.resample import resample
from secondself.voice.virtual_soundcard import VirtualSoundCard
from secondself.weights.manifest import ModelStore

FACTS = [
    ("locker number", "seventeen"),
    ("favourite colour", "green"),
    ("sister's name", "Anna"),
    ("car", "a blue Volvo"),
    ("doctor's name", "Doctor Patel"),
    ("gym day", "Thursday"),
    ("bike lock code", "four four two"),
    ("neighbour's dog", "called Pepper"),
]
REPLY_TIMEOUT_S = 90.0
# The environment systemd/secondself.service gives the daemon (what is not a path there).
UNIT_ENVIRONMENT = {"PYTHONUNBUFFERED": "1", "MALLOC_ARENA_MAX": "2"}
WATCHDOG_USEC = 10_000_000  # pings every 5 s; a gap of 10 s is what systemd would act on


def lines(count: int) -> list[str]:
    """Alternating "remember" and "ask" lines, cycling through FACTS."""
    said: list[str] = []
    for n in range(count):
        thing, value = FACTS[(n // 2) % len(FACTS)]
        if n % 2 == 0:
            said.append(f"Hey Jarvis, remember that my {thing} is {value}.")
        else:
            said.append(f"Hey Jarvis, what is my {thing}?")
    return said


class Voice:
    """The piper voice from the models folder, as 16 kHz int16 (cached per text)."""

    def __init__(self) -> None:
        from piper import PiperVoice

        store = ModelStore(models_dir())
        self._voice = PiperVoice.load(str(store.path("en_US-joe-medium")))
        self._cache: dict[str, NDArray[np.int16]] = {}

    def say(self, text: str) -> NDArray[np.int16]:
        if text not in self._cache:
            chunks = list(self._voice.synthesize(text))
            audio = np.concatenate([c.audio_int16_array for c in chunks])
            self._cache[text] = resample(audio, chunks[0].sample_rate, 16000)
        return self._cache[text]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """`secondself run` as a child, as systemd runs it: a notify socket bound here, a
    watchdog interval, events appended to a file (text redacted) and followed."""

    def __init__(
        self,
        home: Path,
        *,
        watchdog_usec: int = 2_000_000,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.home = home
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.notify_path = home / "notify.sock"
        self.events_path = home / "events.jsonl"
        self.stderr_path = home / "daemon.stderr"
        self.notify_socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with contextlib.suppress(FileNotFoundError):
            self.notify_path.unlink()
        self.notify_socket.bind(str(self.notify_path))
        self.notifications: queue.Queue[tuple[float, str]] = queue.Queue()
        self.history: list[str] = []  # every notification line, in order
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.env = {
            **os.environ,
            **UNIT_ENVIRONMENT,
            "SECONDSELF_HOME": str(home / "data"),
            "SECONDSELF_WEB_PORT": str(self.port),
            "NOTIFY_SOCKET": str(self.notify_path),
            "WATCHDOG_USEC": str(watchdog_usec),
            **(env or {}),
        }
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> ServiceProcess:
        self.events_path.touch()
        command = [sys.executable, "-m", "secondself", "--events", str(self.events_path)]
        with open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                [*command, *self.args, "run"], env=self.env, stderr=err, stdout=err
            )
        for target in (self._read_notifications, self._follow_events):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def wait_for(self, prefix: str, timeout: float) -> str:
        """The next notification line starting with `prefix` (others are skipped)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                _, line = self.notifications.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.process is not None and self.process.poll() is not None:
                    code = self.process.returncode
                    raise RuntimeError(f"daemon exited ({code}): {self.stderr()}") from None
                continue
            if line.startswith(prefix):
                return line
        raise TimeoutError(f"no {prefix!r} from the daemon in {timeout:g} s")

    def next_event(self, names: set[str], timeout: float) -> dict[str, Any]:
        """The next event whose name is in `names` (others are skipped)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"daemon exited: {self.stderr()}") from None
                continue
            if event["event"] in names:
                return event
        raise TimeoutError(f"none of {sorted(names)} in {timeout:g} s")

    def metrics(self) -> dict[str, float]:
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            return scrape(response.read().decode().splitlines())

    def sample(self) -> dict[str, int]:
        proc = Path(f"/proc/{self.pid}")
        return {
            "rss": rss_bytes(self.pid),
            "anon": anonymous_rss_bytes(self.pid),
            "fds": len(os.listdir(proc / "fd")),
            "threads": len(os.listdir(proc / "task")),
        }

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-4000:]

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then wait; returns the exit code (None if it had to be killed)."""
        self._stop.set()
        if self.process is None:
            return None
        code: int | None = self.process.poll()
        if code is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                code = None
        self.notify_socket.close()
        return code

    def _read_notifications(self) -> None:
        self.notify_socket.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data = self.notify_socket.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            for line in data.decode(errors="replace").splitlines():
                self.history.append(line)
                self.notifications.put((time.monotonic(), line))

    def _follow_events(self) -> None:
        with open(self.events_path, encoding="utf-8") as stream:
            pending = ""
            while not self._stop.is_set():
                chunk = stream.readline()
                if not chunk:
                    time.sleep(0.05)
                    continue
                pending += chunk
                if pending.endswith("\n"):
                    self.events.put(json.loads(pending))
                    pending = ""


@dataclass
class Result:
    conversations: int
    replied: int = 0
    no_reply: int = 0
    stage_errors: int = 0
    error_log_lines: int = 0
    exit_code: int | None = None
    stop_s: float = 0.0
    rss_start_mb: float = 0.0
    rss_baseline_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_max_mb: float = 0.0
    rss_growth_pct: float = 0.0
    anon_baseline_mb: float = 0.0
    anon_end_mb: float = 0.0
    fds_baseline: float = 0.0
    fds_end: float = 0.0
    fds_max: int = 0
    threads_baseline: int = 0
    threads_end: int = 0
    watchdog_pings: int = 0
    watchdog_max_gap_s: float = 0.0
    reply_latency_median_s: float = 0.0
    reply_latency_p95_s: float = 0.0
    duration_s: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def converse(
    service: ServiceProcess, card: VirtualSoundCard, audio: NDArray[np.int16]
) -> tuple[bool, float | None, int]:
    """Says one line; waits until the reply is spoken and the follow-up window closed.

    Returns (replied, reply latency, stage errors seen)."""
    card.play_into_mic(audio)
    errors = 0
    ended: float | None = None
    first_sentence: float | None = None
    replied = False
    deadline = time.monotonic() + REPLY_TIMEOUT_S
    wanted = {"SpeechEnded", "Speaking", "SpeakingDone", "NothingHeard", "StageError"}
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = service.next_event(wanted, left)
        except TimeoutError:
            break
        name = event["event"]
        if name == "StageError":
            errors += 1
        elif name == "SpeechEnded" and ended is None:
            ended = event["t"]
        elif name == "Speaking" and first_sentence is None:
            first_sentence = event["t"]
        elif name == "SpeakingDone":
            replied = True
        elif name == "NothingHeard":
            break  # after a reply: the follow-up window closed; before one: nothing heard
    latency = None
    if ended is not None and first_sentence is not None:  # a speculative reply may lead
        latency = max(0.0, first_sentence - ended)
    return replied, latency, errors


def run(args: argparse.Namespace) -> Result:
    result = Result(conversations=args.conversations)
    voice = Voice()
    said = lines(args.conversations)
    for text in set(said):
        voice.say(text)
    home = Path(args.home or tempfile.mkdtemp(prefix="secondself-soak-"))
    started = time.monotonic()
    latencies: list[float] = []
    samples: list[dict[str, int]] = []
    pings: list[float] = []
    with VirtualSoundCard() as card:
        env = {"SECONDSELF_VAD_FOLLOW_UP_S": str(args.follow_up_s)}
        service = ServiceProcess(home, env=env, watchdog_usec=WATCHDOG_USEC).start()
        try:
            service.wait_for("READY=1", 300)
            # The microphone opens just after READY: a line played before that is not heard.
            service.wait_for("STATUS=listening", 30)
            first = service.sample()
            result.rss_start_mb = first["rss"] / 1e6
            for n, text in enumerate(said, 1):
                replied, latency, errors = converse(service, card, voice.say(text))
                result.replied += replied
                result.no_reply += not replied
                result.stage_errors += errors
                if latency is not None:
                    latencies.append(latency)
                samples.append(service.sample())
                if args.progress and (n % args.progress == 0 or n == len(said)):
                    s = samples[-1]
                    print(
                        f"soak: {n}/{len(said)} replied={result.replied} "
                        f"errors={result.stage_errors} rss={s['rss'] / 1e6:.0f} MB "
                        f"(anonymous {s['anon'] / 1e6:.0f} MB) "
                        f"fds={s['fds']} threads={s['threads']}",
                        file=sys.stderr,
                        flush=True,
                    )
            result.metrics = {
                k: v
                for k, v in service.metrics().items()
                if k.startswith(("secondself_", "process_")) and "_bucket" not in k
            }
        finally:
            stop_at = time.monotonic()
            result.exit_code = service.stop()
            result.stop_s = time.monotonic() - stop_at
            while not service.notifications.empty():
                when, line = service.notifications.get()
                if line == "WATCHDOG=1":
                    pings.append(when)
            log = service.stderr_path.read_text(errors="replace")
            result.error_log_lines = sum(" ERROR " in line for line in log.splitlines())
    result.duration_s = time.monotonic() - started
    summarize(result, samples, latencies, pings, args)
    return result


def summarize(
    result: Result,
    samples: list[dict[str, int]],
    latencies: list[float],
    pings: list[float],
    args: argparse.Namespace,
) -> None:
    if samples:
        warm = min(args.warmup, len(samples) - 1)
        window = max(1, min(10, (len(samples) - warm) // 2))
        base, tail = samples[warm : warm + window], samples[-window:]
        result.rss_baseline_mb = statistics.median(s["rss"] for s in base) / 1e6
        result.rss_end_mb = statistics.median(s["rss"] for s in tail) / 1e6
        result.rss_max_mb = max(s["rss"] for s in samples) / 1e6
        result.rss_growth_pct = 100 * (result.rss_end_mb / result.rss_baseline_mb - 1)
        result.anon_baseline_mb = statistics.median(s["anon"] for s in base) / 1e6
        result.anon_end_mb = statistics.median(s["anon"] for s in tail) / 1e6
        result.fds_baseline = statistics.median(s["fds"] for s in base)
        result.fds_end = statistics.median(s["fds"] for s in tail)
        result.fds_max = max(s["fds"] for s in samples)
        result.threads_baseline = base[0]["threads"]
        result.threads_end = tail[-1]["threads"]
    result.watchdog_pings = len(pings)
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    result.watchdog_max_gap_s = max(gaps, default=0.0)
    result.reply_latency_median_s = statistics.median(latencies) if latencies else 0.0
    result.reply_latency_p95_s = percentile(latencies, 0.95)
    checks = [
        (result.stage_errors == 0, f"{result.stage_errors} stage errors"),
        (result.error_log_lines == 0, f"{result.error_log_lines} ERROR lines in the log"),
        (result.no_reply == 0, f"{result.no_reply} conversations without a reply"),
        (result.exit_code == 0, f"exit code {result.exit_code} after SIGTERM"),
        (
            result.rss_growth_pct < args.max_rss_growth,
            f"RSS grew {result.rss_growth_pct:.1f} % (limit {args.max_rss_growth} %)",
        ),
        (result.fds_end <= result.fds_baseline, "file descriptors grew"),
        (result.watchdog_pings > 0, "no watchdog pings"),
        (
            result.watchdog_max_gap_s < WATCHDOG_USEC / 1e6,
            f"watchdog gap {result.watchdog_max_gap_s:.1f} s (systemd would have killed it)",
        ),
    ]
    result.failures = [why for ok, why in checks if not ok]


def report(result: Result) -> str:
    r = result
    verdict = "PASS" if r.passed else "FAIL: " + "; ".join(r.failures)
    return "\n".join(
        [
            f"soak: {r.conversations} conversations in {r.duration_s / 60:.1f} min: {verdict}",
            f"  replied {r.replied}, no reply {r.no_reply}, stage errors {r.stage_errors}, "
            f"ERROR log lines {r.error_log_lines}",
            f"  RSS {r.rss_start_mb:.0f} MB at ready, {r.rss_baseline_mb:.0f} MB after warm-up, "
            f"{r.rss_end_mb:.0f} MB at the end (max {r.rss_max_mb:.0f} MB): "
            f"{r.rss_growth_pct:+.2f} %; of it anonymous (heap, not model file pages) "
            f"{r.anon_baseline_mb:.0f} -> {r.anon_end_mb:.0f} MB",
            f"  file descriptors {r.fds_baseline:g} -> {r.fds_end:g} (max {r.fds_max}), "
            f"threads {r.threads_baseline} -> {r.threads_end}",
            f"  watchdog pings {r.watchdog_pings}, longest gap {r.watchdog_max_gap_s:.2f} s",
            f"  speech end to first reply sentence: median {r.reply_latency_median_s:.2f} s, "
            f"p95 {r.reply_latency_p95_s:.2f} s",
            f"  SIGTERM to exit {r.stop_s:.2f} s, exit code {r.exit_code}",
        ]
    )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--conversations", type=int, default=300, help="how many (default 300)")
    p.add_argument("--warmup", type=int, default=None, help="conversations before the baseline")
    p.add_argument("--max-rss-growth", type=float, default=5.0, help="percent (default 5)")
    p.add_argument("--follow-up-s", type=float, default=1.0, help="vad.follow_up_s for the run")
    p.add_argument("--home", help="folder for the daemon's data and logs (default: a temp dir)")
    p.add_argument("--progress", type=int, default=10, help="print a line every N (0: never)")
    p.add_argument("--json", action="store_true", help="the result as one JSON object too")
    args = p.parse_args(argv)
    if args.conversations < 2:
        p.error("--conversations must be at least 2")
    if args.warmup is None:
        args.warmup = max(2, args.conversations // 20)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    result = run(args)
    print(report(result))
    if args.json:
        print(json.dumps(asdict(result)))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
