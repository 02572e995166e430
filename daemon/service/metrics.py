"""Prometheus metrics from the bus's events, served as text on `/metrics` (stdlib only).

`Metrics` subscribes to the bus (`bus.on(metrics.observe)`); the daemon's HTTP port serves
its `render()` beside the web page (`secondself.web.site`). Nothing here
reads what the user said: only counts, durations and labels from a fixed set.
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

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
Labels = tuple[tuple[str, str], ...]


@dataclass
class Histogram:
    buckets: Sequence[float] = BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        if not self.counts:
            self.counts = [0] * len(self.buckets)
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
        self.total += value
        self.count += 1


class Metrics:
    """Counters, gauges and histograms fed by events (from any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = {}
        self._gauges: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, dict[Labels, Histogram]] = {}
        self._follow_up = False  # whether the listener is waiting for a follow-up
        # This turn's end of speech and first reply sentence, in whichever order they come
        # (a speculative reply may start before the endpointer is sure).
        self._speech_ended: float | None = None
        self._first_sentence: float | None = None
        self.microphone("stopped")
        for name in ("wakes", "false_wakes", "follow_up_timeouts", "turns", "backoffs"):
            self._counters[f"secondself_{name}_total"] = {(): 0.0}
        self._counters["secondself_memories_saved_total"] = {}
        self._counters["secondself_errors_total"] = {}

    # -- feeding ---------------------------------------------------------------------------

    def observe(self, event: Event) -> None:
        """The bus handler: every event that counts updates its metric."""
        match event:
            case WakeDetected():
                self._add("secondself_wakes_total")
            case Listening(follow_up=follow_up):
                self._follow_up = follow_up
                self._speech_ended = self._first_sentence = None  # a new turn begins
            case NothingHeard():
                # After a wake, nothing said means the wake was false; after a reply it only
                # means there was no follow-up.
                name = "follow_up_timeouts" if self._follow_up else "false_wakes"
                self._add(f"secondself_{name}_total")
            case SpeechEnded(duration_s=duration):
                self._observe("secondself_utterance_seconds", duration)
                if self._speech_ended is None:
                    self._speech_ended = event.t
                    self._reply_latency()
            case Transcript(seconds=seconds):
                self._add("secondself_turns_total")
                self._stage("stt", seconds)
            case MemoriesRetrieved(seconds=seconds):
                self._stage("retrieval", seconds)
            case AnswerDone(backend=backend, first_token_s=first, seconds=seconds):
                self._stage("first_token", first)
                self._stage("answer", seconds)
                self._add("secondself_answers_total", (("backend", backend),))
                if backend == "cloud":
                    self._add("secondself_backoffs_total")
            case Speaking(synth_s=synth_s):
                self._stage("tts", synth_s)
                if self._first_sentence is None:
                    self._first_sentence = event.t
                    self._reply_latency()
            case SpeakingDone(interrupted=True):
                self._add("secondself_replies_interrupted_total")
            case MemorySaved(kind=kind, source=source):
                self._add("secondself_memories_saved_total", (("kind", kind), ("source", source)))
            case MemoryForgotten(memory_ids=ids):
                self._add("secondself_memories_forgotten_total", (), len(ids))
            case StageError(stage=stage, code=code):
                self._add("secondself_errors_total", (("stage", stage), ("code", code)))
            case ModelLoaded(model=model, role=role, seconds=seconds):
                labels = (("model", model), ("role", role))
                self._set("secondself_model_load_seconds", seconds, labels)
            case DaemonReady(seconds=seconds):
                self._set("secondself_start_seconds", seconds)

    def _reply_latency(self) -> None:
        """Once a turn has both its end of speech and its first sentence: the wait heard."""
        if self._speech_ended is not None and self._first_sentence is not None:
            wait = max(0.0, self._first_sentence - self._speech_ended)
            self._observe("secondself_reply_latency_seconds", wait)

    def microphone(self, state: str) -> None:
        """The microphone supervisor's state (open / missing / stopped), as a 0/1 gauge."""
        with self._lock:
            self._gauges["secondself_microphone_open"] = {(): 1.0 if state == "open" else 0.0}

    def _add(self, name: str, labels: Labels = (), amount: float = 1.0) -> None:
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[labels] = series.get(labels, 0.0) + amount

    def _set(self, name: str, value: float, labels: Labels = ()) -> None:
        with self._lock:
            self._gauges.setdefault(name, {})[labels] = value

    def _observe(self, name: str, value: float, labels: Labels = ()) -> None:
        with self._lock:
            self._histograms.setdefault(name, {}).setdefault(labels, Histogram()).observe(value)

    def _stage(self, stage: str, seconds: float) -> None:
        self._observe("secondself_stage_seconds", seconds, (("stage", stage),))

    # -- the exposition ----------------------------------------------------------------------

    def render(self) -> str:
        """The Prometheus text format (version 0.0.4)."""
        with self._lock:
            counters = {k: dict(v) for k, v in self._counters.items()}
            gauges = {k: dict(v) for k, v in self._gauges.items()}
            histograms = {
                k: {labels: _copy(h) for labels, h in v.items()}
                for k, v in self._histograms.items()
            }
        gauges.update(process_gauges())
        lines: list[str] = []
        for name in sorted(counters):
            lines += _family(name, "counter", counters[name])
        for name in sorted(gauges):
            lines += _family(name, "gauge", gauges[name])
        for name in sorted(histograms):
            lines += _histogram_family(name, histograms[name])
        return "\n".join(lines) + "\n"


HELP = {
    "secondself_wakes_total": "Wake words detected.",
    "secondself_false_wakes_total": "Wakes after which nothing was said (NothingHeard).",
    "secondself_follow_up_timeouts_total": "Follow-up windows that ended with nothing said.",
    "secondself_turns_total": "Utterances transcribed.",
    "secondself_answers_total": "Answers generated, by backend.",
    "secondself_backoffs_total": "Answers handed to the cloud model.",
    "secondself_replies_interrupted_total": "Replies cut short by barge-in or stop.",
    "secondself_memories_saved_total": "Memories saved, by kind and source.",
    "secondself_memories_forgotten_total": "Memories forgotten.",
    "secondself_errors_total": "Stage errors, by stage and code.",
    "secondself_microphone_open": "1 while the microphone is open, 0 while missing.",
    "secondself_model_load_seconds": "Seconds each model took to load at start.",
    "secondself_start_seconds": "Seconds from start to ready (models loaded).",
    "secondself_stage_seconds": "Latency of each stage of a turn.",
    "secondself_utterance_seconds": "Length of what the user said.",
    "secondself_reply_latency_seconds": "From the end of speech to the first reply sentence.",
    "process_resident_memory_bytes": "Resident set size of the daemon.",
    "process_anonymous_memory_bytes": "Of the RSS, the daemon's own memory, not model files.",
    "process_open_fds": "Open file descriptors of the daemon.",
    "process_cpu_seconds_total": "CPU time of the daemon (user and system).",
    "process_threads": "Threads of the daemon.",
}


def process_gauges() -> dict[str, dict[Labels, float]]:
    """RSS (all and anonymous), open file descriptors, CPU time and threads, from /proc."""
    found: dict[str, dict[Labels, float]] = {}
    with contextlib.suppress(OSError, ValueError, IndexError):
        rss = rss_bytes()
        found["process_resident_memory_bytes"] = {(): float(rss)}
    with contextlib.suppress(OSError, ValueError, IndexError):
        if anonymous := anonymous_rss_bytes():
            found["process_anonymous_memory_bytes"] = {(): float(anonymous)}
    with contextlib.suppress(OSError):
        found["process_open_fds"] = {(): float(len(os.listdir("/proc/self/fd")))}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    found["process_cpu_seconds_total"] = {(): usage.ru_utime + usage.ru_stime}
    with contextlib.suppress(OSError):
        found["process_threads"] = {(): float(len(os.listdir("/proc/self/task")))}
    return found


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


def _copy(h: Histogram) -> Histogram:
    return Histogram(h.buckets, list(h.counts), h.total, h.count)


def _labels(labels: Labels, extra: Labels = ()) -> str:
    pairs = (*labels, *extra)
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _header(name: str, kind: str) -> list[str]:
    lines = [f"# HELP {name} {HELP[name]}"] if name in HELP else []
    return [*lines, f"# TYPE {name} {kind}"]


def _family(name: str, kind: str, series: dict[Labels, float]) -> list[str]:
    lines = _header(name, kind)
    lines += [f"{name}{_labels(labels)} {_number(v)}" for labels, v in sorted(series.items())]
    return lines


def _histogram_family(name: str, series: dict[Labels, Histogram]) -> list[str]:
    lines = _header(name, "histogram")
    for labels, h in sorted(series.items()):
        counts = h.counts or [0] * len(h.buckets)
        for bound, count in zip(h.buckets, counts, strict=True):
            lines.append(f"{name}_bucket{_labels(labels, (('le', repr(bound)),))} {count}")
        lines.append(f"{name}_bucket{_labels(labels, (('le', '+Inf'),))} {h.count}")
        lines.append(f"{name}_sum{_labels(labels)} {_number(h.total)}")
        lines.append(f"{name}_count{_labels(labels)} {h.count}")
    return lines


def scrape(lines: Iterable[str]) -> dict[str, float]:
    """Parses exposition lines into {'name{labels}': value} (for tests and the soak)."""
    found: dict[str, float] = {}
    for line in lines:
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            found[key] = float(value)
    return found
