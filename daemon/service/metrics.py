"""Prometheus metrics from the bus's events, exposed with `prometheus_client` on `/metrics`.

`Metrics` subscribes to the bus (`bus.on(metrics.observe)`); the daemon's HTTP port serves
its `render()` beside the web page (`secondself.web.site`). Nothing here reads what the user
said: only counts, durations and labels from a fixed set. Each `Metrics` has a registry of
its own, so tests and the daemon never share one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from secondself.core.events import (
    AnswerDone,
    DaemonReady,
    Event,
    Listening,
    MemoriesRetrieved,
    MemoryForgotten,
    MemorySaved,
    ModelLoaded,
    NothingHeard,
    Speaking,
    SpeakingDone,
    SpeechEnded,
    StageError,
    Transcript,
    WakeDetected,
)

# Stage latencies span 10 ms (retrieval) to tens of seconds (a long answer on a Pi).
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

# A `_created` timestamp beside every counter and histogram doubles the series for nothing
# a dashboard here uses (the daemon's start time is process_start_time_seconds).
disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    """Counters, gauges and histograms fed by events (from any thread)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self._lock = threading.Lock()  # the turn's state below; the metrics lock themselves
        self._follow_up = False  # whether the listener is waiting for a follow-up
        # This turn's end of speech and first reply sentence, in whichever order they come
        # (a speculative reply may start before the endpointer is sure).
        self._speech_ended: float | None = None
        self._first_sentence: float | None = None

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        self.wakes = counter("secondself_wakes_total", "Wake words detected.")
        self.false_wakes = counter(
            "secondself_false_wakes_total", "Wakes after which nothing was said (NothingHeard)."
        )
        self.follow_up_timeouts = counter(
            "secondself_follow_up_timeouts_total", "Follow-up windows that ended with nothing said."
        )
        self.turns = counter("secondself_turns_total", "Utterances transcribed.")
        self.answers = counter(
            "secondself_answers_total", "Answers generated, by backend.", ("backend",)
        )
        self.backoffs = counter("secondself_backoffs_total", "Answers handed to the cloud model.")
        self.interrupted = counter(
            "secondself_replies_interrupted_total", "Replies cut short by barge-in or stop."
        )
        self.saved = counter(
            "secondself_memories_saved_total", "Memories saved, by kind and source.",
            ("kind", "source"),
        )  # fmt: skip
        self.forgotten = counter("secondself_memories_forgotten_total", "Memories forgotten.")
        self.errors = counter(
            "secondself_errors_total", "Stage errors, by stage and code.", ("stage", "code")
        )
        self.microphone_open = Gauge(
            "secondself_microphone_open", "1 while the microphone is open, 0 while missing.",
            registry=registry,
        )  # fmt: skip
        self.model_load = Gauge(
            "secondself_model_load_seconds", "Seconds each model took to load at start.",
            ("model", "role"), registry=registry,
        )  # fmt: skip
        self._start_seconds: Gauge | None = None  # shown once the daemon is ready, not as 0
        self.stage = Histogram(
            "secondself_stage_seconds", "Latency of each stage of a turn.", ("stage",),
            registry=registry, buckets=BUCKETS,
        )  # fmt: skip
        self.utterance = Histogram(
            "secondself_utterance_seconds", "Length of what the user said.",
            registry=registry, buckets=BUCKETS,
        )  # fmt: skip
        self.reply_latency = Histogram(
            "secondself_reply_latency_seconds",
            "From the end of speech to the first reply sentence.",
            registry=registry, buckets=BUCKETS,
        )  # fmt: skip
        ProcessCollector(registry=registry)  # RSS, CPU seconds, open file descriptors
        registry.register(OwnMemory())

    # -- feeding ---------------------------------------------------------------------------

    def observe(self, event: Event) -> None:
        """The bus handler: every event that counts updates its metric."""
        with self._lock:
            self._observe(event)

    def _observe(self, event: Event) -> None:
        match event:
            case WakeDetected():
                self.wakes.inc()
            case Listening(follow_up=follow_up):
                self._follow_up = follow_up
                self._speech_ended = self._first_sentence = None  # a new turn begins
            case NothingHeard():
                # After a wake, nothing said means the wake was false; after a reply it only
                # means there was no follow-up.
                (self.follow_up_timeouts if self._follow_up else self.false_wakes).inc()
            case SpeechEnded(duration_s=duration):
                self.utterance.observe(duration)
                if self._speech_ended is None:
                    self._speech_ended = event.t
                    self._reply_latency()
            case Transcript(seconds=seconds):
                self.turns.inc()
                self.stage.labels("stt").observe(seconds)
            case MemoriesRetrieved(seconds=seconds):
                self.stage.labels("retrieval").observe(seconds)
            case AnswerDone(backend=backend, first_token_s=first, seconds=seconds):
                self.stage.labels("first_token").observe(first)
                self.stage.labels("answer").observe(seconds)
                self.answers.labels(backend).inc()
                if backend == "cloud":
                    self.backoffs.inc()
            case Speaking(synth_s=synth_s):
                self.stage.labels("tts").observe(synth_s)
                if self._first_sentence is None:
                    self._first_sentence = event.t
                    self._reply_latency()
            case SpeakingDone(interrupted=True):
                self.interrupted.inc()
            case MemorySaved(kind=kind, source=source):
                self.saved.labels(kind, source).inc()
            case MemoryForgotten(memory_ids=ids):
                self.forgotten.inc(len(ids))
            case StageError(stage=stage, code=code):
                self.errors.labels(stage, code).inc()
            case ModelLoaded(model=model, role=role, seconds=seconds):
                self.model_load.labels(model, role).set(seconds)
            case DaemonReady(seconds=seconds):
                if self._start_seconds is None:
                    self._start_seconds = Gauge(
                        "secondself_start_seconds", "Seconds from start to ready (models loaded).",
                        registry=self.registry,
                    )  # fmt: skip
                self._start_seconds.set(seconds)

    def _reply_latency(self) -> None:
        """Once a turn has both its end of speech and its first sentence: the wait heard."""
        if self._speech_ended is not None and self._first_sentence is not None:
            self.reply_latency.observe(max(0.0, self._first_sentence - self._speech_ended))

    def microphone(self, state: str) -> None:
        """The microphone supervisor's state (open / missing / stopped), as a 0/1 gauge."""
        self.microphone_open.set(1.0 if state == "open" else 0.0)

    # -- the exposition ----------------------------------------------------------------------

    def render(self) -> str:
        """The Prometheus text format (version 0.0.4)."""
        return generate_latest(self.registry).decode("utf-8")


class OwnMemory(Collector):
    """What `ProcessCollector` leaves out: the anonymous part of the RSS, and threads."""

    def collect(self) -> Iterable[Metric]:
        try:
            anonymous = anonymous_rss_bytes()
        except (OSError, ValueError, IndexError):
            anonymous = 0
        if anonymous:
            yield GaugeMetricFamily(
                "process_anonymous_memory_bytes",
                "Of the RSS, the daemon's own memory, not model files.",
                value=anonymous,
            )
        try:
            threads = len(os.listdir("/proc/self/task"))
        except OSError:
            return
        yield GaugeMetricFamily("process_threads", "Threads of the daemon.", value=threads)


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process, from /proc/PID/statm."""
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


def anonymous_rss_bytes(pid: int | str = "self") -> int:
    """The part of the RSS that is the process's own memory (heap, buffers), not pages of
    memory-mapped model files: a leak shows here, while a model's pages read for the first
    time show only in the whole RSS. 0 where the kernel does not report it."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


def scrape(lines: Iterable[str]) -> dict[str, float]:
    """Parses exposition lines into {'name{labels}': value} (for tests and the soak)."""
    found: dict[str, float] = {}
    for line in lines:
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            found[key] = float(value)
    return found
