"""`secondself run` (the daemon's main job) and `secondself listen FILE.wav` (the same
pipeline over a recording)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from secondself import logs
from secondself.app import App
from secondself.cloud import CloudAnswerModel
from secondself.config import Config, load_config
from secondself.console import EventPrinter
from secondself.conversation import Conversation
from secondself.conversations import Conversations, Shared, reload_settings, wake_routes
from secondself.errors import SecondselfError
from secondself.events import ButtonPressed, DaemonReady, DaemonStopping, Event, ModelLoaded
from secondself.heap import release_periodically
from secondself.hw.device import Device
from secondself.hw.setup import Hardware, announcer, start_hardware
from secondself.listener import Listener
from secondself.memory.store import MemoryStore
from secondself.metrics import Metrics
from secondself.model_pool import ModelPool, spec_for
from secondself.pipeline import Pipeline, for_persona, listener_settings, load_pipeline
from secondself.protocols import FRAME_SAMPLES, SAMPLE_RATE, Audio, Speaker
from secondself.replies import ReplyRecorder
from secondself.sdnotify import Notifier, keep_alive, watchdog_interval
from secondself.users import Household, Route
from secondself.vision import captioner_for
from secondself.voice_loop import VoiceLoop
from secondself.wake import load_wake_words
from secondself.wavio import read_wav
from secondself.web.http import HttpServer
from secondself.web.server import serve_daemon_page

log = logging.getLogger(__name__)

TAIL_SILENCE_S = 2.0  # appended to recordings so the last utterance's end is heard


@dataclass
class Session:
    """Everything a running voice pipeline holds; closed in one place."""

    pipeline: Pipeline
    conversations: Conversations
    pool: ModelPool
    loop: VoiceLoop
    hardware: Hardware | None = None

    @property
    def store(self) -> MemoryStore:
        """The memories of the user the daemon was started for (the device's owner)."""
        return self.conversations.store(self.conversations.primary.user)

    @property
    def conversation(self) -> Conversation:
        """The conversation a wake word last called."""
        return self.loop.conversation

    def close(self) -> None:
        if self.hardware is not None:
            self.hardware.close()  # a memo or snapshot in flight is saved first
        self.conversations.close()
        self.pool.close()


def start_session(
    app: App, speaker: Speaker, pipeline: Pipeline | None = None, hardware: bool = False
) -> Session:
    """Wire the stages into a voice loop (loading the models unless they are given).

    The daemon answers every wake word of the household: the one of the persona it runs as
    (`--user`, `--persona`) and those of the other users' and personas' (`conversations`).
    `hardware`: the button, camera and LED (the daemon), not for offline runs and tests."""
    start = time.perf_counter()
    household = Household.from_app(app)
    persona = household.persona(app.user, app.persona)  # unknown: a one-line error
    config = for_persona(app.config, persona)
    primary = Route(app.user, persona.name)
    routes = wake_routes(household, primary, config.wake.model)
    given = pipeline is not None  # the caller's models are the caller's to close
    pipeline = pipeline or load_pipeline(config, app.models, app.bus, wake_words=list(routes))
    pool = ModelPool.from_config(config, app.bus)
    shared = Shared(
        app.bus,
        app.config,
        app.models,
        pipeline.stt,
        pipeline.embedder,
        speaker,
        pool,
        cloud=CloudAnswerModel.from_config(config, app.bus),
    )
    # The model loaded at start (warm, timed with the others) is the pool's first.
    spec = spec_for(app.models, config, persona.model)
    pool.adopt(spec, pipeline.answerer, persona.name, hand_over=not given)
    conversations = Conversations(
        household, shared, primary, routes, voices={persona.voice: pipeline.synth}
    )
    devices = None
    if hardware:
        devices = start_hardware(
            config,
            app.bus,
            memory=conversations.store(app.user),
            stt=pipeline.stt,
            vad=pipeline.vad,
            speaker=speaker,
            sample_rate=pipeline.synth.sample_rate,
            persona=persona.name,
            backoff=persona.backoff,  # may a photo be described by the cloud model?
            announce=announcer(pipeline.synth, speaker),
        )
        conversations.camera = devices.device
    for problem in conversations.make_all():
        log.warning("%s", problem)
    if set(pipeline.wake.names) != set(conversations.wake_words):
        # A persona that could not be made must not wake anyone: listen for the rest only.
        pipeline.wake = load_wake_words(app.models, conversations.wake_words)
    listener = Listener(pipeline.wake, pipeline.vad, listener_settings(config))
    _, conversation = conversations.for_wake(config.wake.model)
    hooks = devices.hooks if devices else None
    loop = VoiceLoop(
        app.bus, listener, conversation, pipeline.stt, hooks, router=conversations.for_wake
    )
    # A button press cuts a reply short, as the wake word does.
    app.bus.on(lambda e: loop.conversation.stop() if isinstance(e, ButtonPressed) else None)
    app.bus.publish(
        DaemonReady(seconds=time.perf_counter() - start, models=tuple(pipeline.load_seconds))
    )
    return Session(pipeline, conversations, pool, loop, devices)


async def recording_frames(audio: Audio) -> AsyncIterator[Audio]:
    """A recording as 80 ms frames (zero-padded), then a little silence."""
    tail = np.zeros(int(TAIL_SILENCE_S * SAMPLE_RATE), dtype=np.int16)
    padded = np.concatenate([audio, tail])
    padded = np.pad(padded, (0, (-padded.size) % FRAME_SAMPLES))
    for start in range(0, padded.size, FRAME_SAMPLES):
        yield padded[start : start + FRAME_SAMPLES]
        await asyncio.sleep(0)  # let turns and subscribers run between frames


# --- listen ------------------------------------------------------------------------------


def _listen(args: argparse.Namespace, app: App) -> int:
    audio = read_wav(args.file)  # a bad file is a one-line error before any model loads
    app.bus.on(EventPrinter(as_json=args.json, show_text=True))
    recorder = ReplyRecorder(args.out)
    app.bus.on(recorder)
    session = start_session(app, recorder)
    try:
        asyncio.run(session.loop.run(recording_frames(audio), wait_for_turns=True))
    finally:
        session.close()
    for path in recorder.files:
        print(f"reply written: {path}", file=sys.stderr)
    return 0


# --- run ---------------------------------------------------------------------------------

GRACE_S = 3.0  # after SIGTERM, how long a turn in flight may take to finish its memory write
STOP_POLL_S = 0.05
STALE_AUDIO_S = 10.0  # microphone open but no frame reached the listener this long: unhealthy
# Config keys a SIGHUP applies to the running daemon (prefixes); any other change is only
# reported: audio devices, models, threads, the voice and the web port need a restart.
LIVE_KEYS = ("wake.threshold", "wake.refractory_s", "vad.", "llm.max_tokens", "memory.top_k",
             "log.level")  # fmt: skip


@dataclass
class Service:
    """What `run` adds around a session: systemd notifications, metrics, the config."""

    notifier: Notifier
    metrics: Metrics
    config_file: Path | None
    config: Config  # as running now (SIGHUP replaces it)
    started_config: Config  # as started (what needs a restart is measured against it)
    started: float = field(default_factory=time.perf_counter)
    stopping: bool = False
    microphone_status: str = ""  # the last microphone line of `systemctl status`


class AudioHeartbeat:
    """The audio path's health for the watchdog: frames reach the listener, or the
    microphone is missing and its supervisor is retrying (a survivable fault, not a hang).
    A microphone that is open while no frame gets through for `stale_s` is a hang."""

    def __init__(
        self,
        frames: Callable[[], int],
        microphone_state: Callable[[], str],
        stale_s: float = STALE_AUDIO_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._frames = frames
        self._state = microphone_state
        self._stale_s = stale_s
        self._clock = clock
        self._count = frames()
        self._since = clock()

    def __call__(self) -> str | None:
        now, count = self._clock(), self._frames()
        if count != self._count or self._state() != "open":
            self._count, self._since = count, now
            return None
        if now - self._since < self._stale_s:
            return None
        return f"no audio frame reached the listener for {now - self._since:.0f} s"


def _run(args: argparse.Namespace, app: App) -> int:
    from secondself.audio import MicrophoneSupervisor, SoundDeviceSpeaker, list_devices

    if args.demo_if_no_mic and not any(d.inputs > 0 for d in list_devices()):
        from secondself.demo import run_demo

        return run_demo(app)
    service = Service(Notifier.from_environ(), Metrics(), app.config_file, app.config, app.config)
    app.bus.on(service.metrics.observe)
    if args.json or sys.stdout.isatty():
        app.bus.on(EventPrinter(as_json=args.json, show_text=sys.stdout.isatty()))
    else:  # under systemd: structured records for the journal, text redacted
        app.bus.on(logs.EventLogger())
    service.notifier.status("loading models")
    loading = app.bus.on(lambda e: _loading_status(service.notifier, e))
    speaker = SoundDeviceSpeaker.from_config(app.config.audio)
    try:
        session = start_session(app, speaker, hardware=True)
    finally:
        loading()
    microphone = MicrophoneSupervisor.from_config(
        app.config.audio, on_state=lambda state, detail: _microphone_state(service, state, detail)
    )
    try:
        asyncio.run(_serve(session, microphone, service))
    finally:
        microphone.stop()
        speaker.close()
        session.close()
        service.notifier.close()
    return 0


async def _serve(session: Session, microphone: Any, service: Service) -> None:
    """Listen until SIGTERM or SIGINT, reload the config on SIGHUP; then stop cleanly."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, _reload, session, service)
    server = await _start_metrics(service, session)
    listening = asyncio.create_task(session.loop.run(microphone.start().frames()))
    background = [asyncio.create_task(release_periodically())]
    if (interval := watchdog_interval()) is not None:
        heartbeat = AudioHeartbeat(lambda: session.loop.frames_heard, lambda: microphone.state)
        background.append(asyncio.create_task(keep_alive(service.notifier, interval, heartbeat)))
    service.notifier.ready(_ready_status(session, service))
    waiter = asyncio.create_task(stopping.wait())
    await asyncio.wait({listening, waiter}, return_when=asyncio.FIRST_COMPLETED)
    reason = "signal" if stopping.is_set() else "input ended"
    service.stopping = True
    service.notifier.stopping(f"stopping ({reason})")
    session.loop.bus.publish(DaemonStopping(reason=reason))
    waiter.cancel()
    try:
        await _wind_down(session, microphone, listening)
    finally:
        for task in background:
            task.cancel()
        if server is not None:
            server.close()


async def _wind_down(session: Session, microphone: Any, listening: asyncio.Task[None]) -> None:
    """Stop the microphone (its frames end, so the voice loop finishes the turn in flight),
    cut any reply short, give the turn GRACE_S to finish its memory write, then cancel."""
    loop = asyncio.get_running_loop()
    await asyncio.to_thread(microphone.stop)
    deadline = loop.time() + GRACE_S
    while not listening.done() and loop.time() < deadline:
        session.conversation.stop()  # again and again: a turn just starting clears it
        await asyncio.wait({listening}, timeout=STOP_POLL_S)
    if not listening.done():
        log.warning("the turn in flight did not finish in %.0f s: cancelled", GRACE_S)
        listening.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await listening


async def _start_metrics(service: Service, session: Session) -> HttpServer | None:
    """/metrics and the web page (memories, conversations, live timings) on one port. The
    page needs the install's access token, kept in the data home (made on first start)."""
    from secondself.web import access

    web = service.config.web
    home = session.conversations.household.home
    token: str | None = None
    try:
        token = await asyncio.to_thread(access.load_or_create, home)
    except OSError as exc:  # no private page without a secret; /metrics is still served
        log.error("web page: cannot keep its access token in %s: %s", home, exc)
    try:
        server = await serve_daemon_page(
            service.metrics.render,
            service.config,
            session.conversations.household,
            session.conversations.store,
            session.pipeline.embedder,
            session.loop.bus,
            session.conversations.primary.user,
            token,
        )
    except OSError as exc:  # the daemon's job is the voice, not its page: carry on
        log.error("web page and metrics: cannot listen on %s:%d: %s", web.host, web.port, exc)
        return None
    url = access.page_url(web.host, web.port)  # never the token: logs are read by many
    if token is None:
        log.info("metrics on %smetrics (no web page: it has no access token)", url)
    else:
        log.info("web page on %s (`secondself web` prints its link; metrics on /metrics)", url)
    return server


def _ready_status(session: Session, service: Service) -> str:
    models = ", ".join(f"{name} {s:.1f} s" for name, s in session.pipeline.load_seconds.items())
    age = _process_age_s()
    since = f"{age:.1f} s after the process started, " if age is not None else ""
    took = time.perf_counter() - service.started
    return f"ready {since}{took:.1f} s after `run` began (models: {models})"


def _process_age_s() -> float | None:
    """Seconds since this process started (imports included), from /proc."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
            return float(uptime.read().split()[0]) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _loading_status(notifier: Notifier, event: Event) -> None:
    if isinstance(event, ModelLoaded):
        notifier.status(f"loading models: {event.model} took {event.seconds:.1f} s")


def _microphone_state(service: Service, state: str, detail: str) -> None:
    """The supervisor's changes (on its thread): a metric and `systemctl status`."""
    service.metrics.microphone(state)
    if service.stopping:
        return
    if state == "open":
        service.microphone_status = f"listening on {detail}"
    elif state == "missing":
        retry = service.config.audio.retry_s
        service.microphone_status = f"microphone missing, retrying every {retry:g} s: {detail}"
    else:
        return
    service.notifier.status(service.microphone_status)


def _reload(session: Session, service: Service) -> None:
    """SIGHUP: read the config files again and apply what can change while running."""
    service.notifier.reloading()
    try:
        new = load_config(service.config_file)
    except SecondselfError as exc:
        log.error("reload: %s; the running config is kept", exc, extra={"error_code": exc.code})
        service.notifier.ready(f"reload failed, running config kept: {exc}")
        return
    old = _flatten(service.config)
    changed = [k for k, v in _flatten(new).items() if old[k] != v]
    live = [k for k in changed if k.startswith(LIVE_KEYS)]
    started = _flatten(service.started_config)
    restart = [
        k for k, v in _flatten(new).items() if started[k] != v and not k.startswith(LIVE_KEYS)
    ]
    # Plain attribute swaps: the listener thread reads its settings afresh on each use.
    session.loop.listener.settings = listener_settings(new)
    for problem in reload_settings(session.conversations, new):
        log.warning("reload: %s; its settings are kept", problem)
    if session.hardware is not None:
        _reload_captioner(session, session.hardware.device, service.config, new)
    logs.set_level(new.log.level)
    service.config = new
    summary = f"config reloaded: applied {', '.join(live) or 'no change'}"
    if restart:
        summary += f"; needs a restart: {', '.join(restart)}"
        log.warning("%s", summary)
    else:
        log.info("%s", summary)
    # The status line keeps saying how the microphone is (a reload does not change it).
    service.notifier.ready(f"{summary}; {service.microphone_status}".rstrip("; "))


def _reload_captioner(session: Session, device: Device, old: Config, new: Config) -> None:
    """May a photo be described by the cloud model now? A local vision model whose settings
    did not change is kept: it is large, and loaded again only on the next photo."""
    same_local = new.camera.vision == "local" and (new.camera, new.llm) == (old.camera, old.llm)
    if same_local and device.captioner is not None:
        return
    try:
        backoff = session.conversations.household.persona(*session.conversations.primary).backoff
        device.captioner = captioner_for(new, backoff, [])
    except SecondselfError as exc:
        log.warning("reload: photo descriptions: %s; kept as they were", exc)


def _flatten(config: Config) -> dict[str, object]:
    return {
        f"{section}.{key}": value
        for section, values in config.to_dict().items()
        for key, value in values.items()
    }


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run the voice daemon (wake word, answers, memories)")
    p.add_argument("--json", action="store_true", help="events as JSON lines")
    p.add_argument(
        "--demo-if-no-mic",
        action="store_true",
        help="with no microphone, run a spoken demo on a virtual sound card instead",
    )
    p.set_defaults(handler=_run)

    p = sub.add_parser("listen", help="push a recording through the same pipeline, offline")
    p.add_argument("file", type=Path, help="a WAV file (any rate, mono or stereo)")
    p.add_argument("--json", action="store_true", help="events as JSON lines")
    p.add_argument("--out", type=Path, help="write each spoken reply as a WAV in this folder")
    p.set_defaults(handler=_listen)
