"""The daemon's run loop: signals, SIGHUP reloads, the watchdog's heartbeat, systemd's
status lines, the page and metrics beside the voice loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from secondself.answer.vision import captioner_for
from secondself.core.config import Config, load_config
from secondself.core.errors import SecondselfError
from secondself.core.events import DaemonStopping, Event, ModelLoaded
from secondself.hw.device import Device
from secondself.service import logs
from secondself.service.app import App
from secondself.service.console import EventPrinter
from secondself.service.conversations import reload_settings
from secondself.service.heap import release_periodically
from secondself.service.metrics import Metrics
from secondself.service.private_home import keep_home_private
from secondself.service.sdnotify import Notifier, keep_alive, watchdog_interval
from secondself.service.session import Session, start_session
from secondself.service.text_answers import DaemonAnswers
from secondself.voice.listener import ListenerSettings
from secondself.web.server import serve_daemon_page
from secondself.web.serving import WebServer
from secondself.web.tokens import TokenBook

if TYPE_CHECKING:  # cryptography is imported only to serve TLS
    from secondself.web.tls import Certificate

log = logging.getLogger(__name__)

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


def run_daemon(app: App, as_json: bool = False, demo_if_no_mic: bool = False) -> int:
    """`secondself run`: the voice daemon until SIGTERM (systemd's notifications, metrics, the
    page, SIGHUP reloads); with `demo_if_no_mic` and no microphone, the spoken demo instead."""
    from secondself.voice.devices import list_devices
    from secondself.voice.microphone_supervisor import MicrophoneSupervisor
    from secondself.voice.speaker import SoundDeviceSpeaker

    keep_home_private(app.home)  # before anything is written there
    if demo_if_no_mic and not any(d.inputs > 0 for d in list_devices()):
        from secondself.service.demo import run_demo

        return run_demo(app)
    service = Service(Notifier.from_environ(), Metrics(), app.config_file, app.config, app.config)
    app.bus.on(service.metrics.observe)
    if as_json or sys.stdout.isatty():
        app.bus.on(EventPrinter(as_json=as_json, show_text=sys.stdout.isatty()))
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
    background = [
        asyncio.create_task(release_periodically()),
        asyncio.create_task(session.conversations.stores.close_replaced_periodically()),
    ]
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
            await server.wait_closed()


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


async def _start_metrics(service: Service, session: Session) -> WebServer | None:
    """/metrics, the web page (memories, conversations, live timings) and the chat APIs on
    one port. The page needs the install's access token, kept in the data home (made on
    first start) beside the scoped tokens and, with `web.tls`, the certificate."""
    from secondself.web import access

    web = service.config.web
    home = session.conversations.household.home
    token: str | None = None
    try:
        token = await asyncio.to_thread(access.load_or_create, home)
    except OSError as exc:  # no private page without a secret; /metrics is still served
        log.error("web page: cannot keep its access token in %s: %s", home, exc)
    try:
        certificate = await _certificate(web.tls, home, web.host)
    except OSError as exc:  # never the page in the clear where TLS was asked for
        log.error("web page and metrics: cannot make a TLS certificate in %s: %s", home, exc)
        return None
    book = await _token_book(home) if token is not None else None
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
            book=book,
            converse=session.conversations.for_text,
            certificate=certificate,
            answers=DaemonAnswers(session),  # MCP's `ask`
        )
    except OSError as exc:  # the daemon's job is the voice, not its page: carry on
        log.error("web page and metrics: cannot listen on %s:%d: %s", web.host, web.port, exc)
        if book is not None:
            book.close()
        return None
    url = access.page_url(web.host, web.port, tls=web.tls)  # never the token: logs are read by many
    if token is None:
        log.info("metrics on %smetrics (no web page: it has no access token)", url)
    else:
        log.info("web page on %s (`secondself web` prints its link; metrics on /metrics)", url)
    if certificate is not None:
        log.info("web TLS certificate SHA-256 fingerprint %s", certificate.fingerprint)
    return server


async def _certificate(tls: bool, home: Path, host: str) -> Certificate | None:
    """With `tls`, the data home's certificate (made on first start); OSError if it cannot be."""
    from secondself.web import tls as certificates

    if not tls:
        return None
    return await asyncio.to_thread(certificates.load_or_create, home, host)


async def _token_book(home: Path) -> TokenBook | None:
    """The scoped tokens; without them the page takes the install's token only."""
    try:
        return await asyncio.to_thread(TokenBook.open, home)
    except SecondselfError as exc:
        log.error("web page: scoped tokens refused: %s", exc)
        return None


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
    # The listener thread reads its settings afresh on each frame.
    session.loop.listener.reconfigure(ListenerSettings.from_config(new))
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
        device.use_captioner(captioner_for(new, backoff, []))
    except SecondselfError as exc:
        log.warning("reload: photo descriptions: %s; kept as they were", exc)


def _flatten(config: Config) -> dict[str, object]:
    return {
        f"{section}.{key}": value
        for section, values in config.to_dict().items()
        for key, value in values.items()
    }
