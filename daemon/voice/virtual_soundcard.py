"""A private PulseAudio daemon with two null sinks: a virtual sound card.

Used by the end-to-end tests and by `make run` on a machine with no microphone (the demo).

Layout (see /work/shared/MODELS.md, "Audio, camera, GPIO"):
- sink `speaker` (the default sink): what the code under test plays; recorded from
  `speaker.monitor`.
- sink `mic`: what a test "says" is played into it; its monitor `mic.monitor` is the default
  source, so the code under test hears it through ALSA's `pulse`/`default` devices.

PortAudio lists devices once, at `Pa_Initialize` (which `import sounddevice` runs). Starting
the card sets PULSE_SERVER (and PULSE_SOURCE, PULSE_SINK) in os.environ, so child processes
and later imports see it; if sounddevice was already imported,
`secondself.voice.devices.rescan_devices` re-initialises PortAudio so the `pulse` and
`default` devices appear (it refuses while a stream is open, so start the card before
opening streams).

Two quirks of a null sink, handled here:
- An idle null sink renders in 2 s blocks, so a new stream's first audio comes up to 2 s
  late. A small `pacat` "keeper" records each monitor at 20 ms latency for the card's
  lifetime, which keeps sink and monitor at 20 ms; start() then waits out the sinks' first
  2 s block (once per session, and after `add_mic`).
- When a source disappears PulseAudio moves its streams to another one, so a stream never
  notices. `remove_mic` therefore kills the streams reading `mic.monitor` (as a USB unplug
  does: PortAudio's stream ends) and then unloads the sink, so reopening fails until
  `add_mic`. PULSE_SOURCE=mic.monitor keeps clients from quietly falling back to
  `speaker.monitor`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from secondself.voice.audio_file import write_wav

TOOLS = ("pulseaudio", "pactl", "pacat", "paplay")
ENV_KEYS = ("PULSE_SERVER", "PULSE_SOURCE", "PULSE_SINK")
MIC_SOURCE = "mic.monitor"
SPEAKER_MONITOR = "speaker.monitor"


class VirtualSoundCard:
    """Starts with `start()` (or as a context manager); stops its processes by pid."""

    def __init__(self, directory: Path | None = None, ready_timeout_s: float = 10.0) -> None:
        self._own_dir = directory is None
        self.dir = directory or Path(tempfile.mkdtemp(prefix="secondself-pulse-"))
        self.server = f"unix:{self.dir / 'native'}"
        self._ready_timeout_s = ready_timeout_s
        self._daemon: subprocess.Popen[bytes] | None = None
        self._keepers: dict[str, subprocess.Popen[bytes]] = {}
        self._recorder: subprocess.Popen[bytes] | None = None
        self._recording_path = self.dir / "recording.raw"
        self._recording_rate = 16000
        self._mic_module: str | None = None
        self._saved_env: dict[str, str | None] = {}

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> VirtualSoundCard:
        missing = [tool for tool in TOOLS if shutil.which(tool) is None]
        if missing:
            raise RuntimeError(
                f"missing {', '.join(missing)}: apt-get install pulseaudio pulseaudio-utils "
                "libasound2-plugins libportaudio2"
            )
        self._write_config()
        log = open(self.dir / "pulseaudio.log", "wb")  # noqa: SIM115 - owned by the daemon
        self._daemon = subprocess.Popen(
            ["pulseaudio", "-n", "-F", str(self.dir / "default.pa"), "--exit-idle-time=-1",
             "--daemonize=no", "--use-pid-file=no", "--disallow-exit", "--log-target=stderr"],
            env=self._env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )  # fmt: skip
        log.close()
        self._wait_ready()
        self._mic_module = self._find_module("sink_name=mic")
        self._export_env()
        self._start_keeper(MIC_SOURCE)
        self._start_keeper(SPEAKER_MONITOR)
        self._wait_low_latency()
        _rescan_portaudio()
        return self

    def stop(self) -> None:
        self._stop_process(self._recorder)
        self._recorder = None
        for name in list(self._keepers):
            self._stop_process(self._keepers.pop(name))
        self._stop_process(self._daemon)
        self._daemon = None
        self._restore_env()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> VirtualSoundCard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the microphone side -----------------------------------------------------------------

    def play_into_mic(
        self, audio: NDArray[np.int16], rate: int = 16000, *, wait: bool = True
    ) -> subprocess.Popen[bytes]:
        """Plays mono int16 audio into the `mic` sink (heard on `mic.monitor`), in real time.

        With wait=False it returns at once; the returned process ends when playing is done.
        """
        path = Path(tempfile.mkstemp(suffix=".wav", dir=self.dir)[1])
        write_wav(path, audio, rate)
        process = subprocess.Popen(
            ["paplay", "-d", "mic", "--latency-msec=20", str(path)],
            env=self._env(),
            stdin=subprocess.DEVNULL,
        )
        if wait:
            process.wait(timeout=60 + len(audio) / rate)
        return process

    def remove_mic(self) -> None:
        """Unplugs the microphone: streams reading it end, and reopening it fails."""
        if self._mic_module is None:
            return
        keeper = self._keepers.get(MIC_SOURCE)
        spared = {keeper.pid} if keeper else set()
        readers = [o["index"] for o in self._source_outputs(MIC_SOURCE) if o["pid"] not in spared]
        self._stop_process(self._keepers.pop(MIC_SOURCE, None))
        # Unplug first, then end the streams (PulseAudio has moved them to another source):
        # the other order lets a quick client reopen the mic before it is gone.
        self._pactl("unload-module", self._mic_module)
        self._mic_module = None
        for index in readers:
            with contextlib.suppress(RuntimeError):  # already gone with the sink
                self._pacmd("kill-source-output", index)

    def add_mic(self) -> None:
        """Plugs the microphone back in."""
        if self._mic_module is not None:
            return
        self._mic_module = self._pactl("load-module", "module-null-sink", "sink_name=mic").strip()
        self._pactl("set-default-source", MIC_SOURCE)
        self._start_keeper(MIC_SOURCE)
        self._wait_low_latency()

    @property
    def has_mic(self) -> bool:
        return self._mic_module is not None

    # -- the speaker side --------------------------------------------------------------------

    def start_recording(self, rate: int = 16000) -> None:
        """Records what is played to the `speaker` sink, from now until `stop_recording`."""
        self._stop_process(self._recorder)
        self._recording_rate = rate
        with open(self._recording_path, "wb") as out:
            self._recorder = subprocess.Popen(
                [*_pacat_record(SPEAKER_MONITOR, rate)], env=self._env(), stdout=out
            )
        self._wait_for_output(self._recorder.pid, SPEAKER_MONITOR)

    def stop_recording(self) -> NDArray[np.int16]:
        """Stops recording; returns mono int16 at the rate given to `start_recording`."""
        self._stop_process(self._recorder, signal.SIGINT)
        self._recorder = None
        data = self._recording_path.read_bytes()
        return np.frombuffer(data[: len(data) // 2 * 2], dtype=np.int16).copy()

    # -- internals ---------------------------------------------------------------------------

    def _write_config(self) -> None:
        (self.dir / "default.pa").write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.dir}/native\n"
            f"load-module module-cli-protocol-unix socket={self.dir}/cli\n"
            "load-module module-null-sink sink_name=speaker\n"
            "load-module module-null-sink sink_name=mic\n"
            "set-default-sink speaker\n"
            f"set-default-source {MIC_SOURCE}\n"
        )

    def _env(self) -> dict[str, str]:
        # Everything the daemon or a client writes stays in our folder (no ~/.config/pulse).
        return dict(
            os.environ,
            PULSE_SERVER=self.server,
            PULSE_RUNTIME_PATH=str(self.dir),
            PULSE_STATE_PATH=str(self.dir),
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._ready_timeout_s
        while time.monotonic() < deadline:
            assert self._daemon is not None
            if self._daemon.poll() is not None:
                log = (self.dir / "pulseaudio.log").read_text(errors="replace")
                raise RuntimeError(f"pulseaudio exited at start:\n{log[-2000:]}")
            done = subprocess.run(["pactl", "info"], env=self._env(), capture_output=True)
            if done.returncode == 0:
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pulseaudio not ready after {self._ready_timeout_s} s")

    def _export_env(self) -> None:
        values = {"PULSE_SERVER": self.server, "PULSE_SOURCE": MIC_SOURCE, "PULSE_SINK": "speaker"}
        for key, value in values.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    def _start_keeper(self, source: str) -> None:
        self._keepers[source] = subprocess.Popen(
            _pacat_record(source, 16000), env=self._env(), stdout=subprocess.DEVNULL
        )
        self._wait_for_output(self._keepers[source].pid, source)

    def _wait_for_output(self, pid: int, source: str, timeout_s: float = 5.0) -> None:
        """Waits until process `pid` is attached to `source`, so nothing played is missed."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(o["pid"] == pid for o in self._source_outputs(source)):
                return
            time.sleep(0.02)
        raise RuntimeError(f"pacat {pid} did not attach to {source}")

    def _wait_low_latency(self, timeout_s: float = 5.0) -> None:
        """Waits out a new sink's first 2 s render block (until then, playing is 2 s late)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            sinks = json.loads(self._pactl("-f", "json", "list", "sinks"))
            if all(s["latency"]["actual"] < 100_000 for s in sinks):  # microseconds
                return
            time.sleep(0.05)
        raise RuntimeError("the null sinks did not reach a low latency")

    def _source_outputs(self, source: str) -> list[dict[str, int]]:
        sources = json.loads(self._pactl("-f", "json", "list", "sources"))
        index = next((s["index"] for s in sources if s["name"] == source), None)
        outputs = json.loads(self._pactl("-f", "json", "list", "source-outputs"))
        return [
            {"index": o["index"], "pid": int(o["properties"].get("application.process.id", -1))}
            for o in outputs
            if o["source"] == index
        ]

    def _find_module(self, argument: str) -> str:
        for line in self._pactl("list", "short", "modules").splitlines():
            if argument in line:
                return line.split()[0]
        raise RuntimeError(f"no module with {argument}")

    def _pactl(self, *args: object) -> str:
        done = subprocess.run(
            ["pactl", *map(str, args)], env=self._env(), capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(map(str, args))}: {done.stderr.strip()}")
        return done.stdout

    def _pacmd(self, *args: object) -> None:
        """One command on the daemon's CLI socket (what pacmd does; pacmd itself wants a
        pid file, and pactl has no kill-source-output)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as cli:
            cli.settimeout(5)
            cli.connect(str(self.dir / "cli"))
            cli.sendall((" ".join(map(str, args)) + "\n").encode())
            cli.shutdown(socket.SHUT_WR)  # end of commands: the daemon closes after replying
            reply = b""
            while chunk := cli.recv(4096):
                reply += chunk
        if b"rror" in reply or b"nknown" in reply:
            raise RuntimeError(f"{' '.join(map(str, args))}: {reply.decode(errors='replace')}")

    @staticmethod
    def _stop_process(
        process: subprocess.Popen[bytes] | None, sig: signal.Signals = signal.SIGTERM
    ) -> None:
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _pacat_record(source: str, rate: int) -> list[str]:
    return ["pacat", "--record", "-d", source, "--latency-msec=20", "--raw",
            "--format=s16le", f"--rate={rate}", "--channels=1"]  # fmt: skip


def _rescan_portaudio() -> None:
    """Makes an already-imported sounddevice see the card (a later import sees it anyway)."""
    if "sounddevice" in sys.modules:
        from secondself.voice.devices import rescan_devices

        rescan_devices()
