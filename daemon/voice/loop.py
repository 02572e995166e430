"""The voice loop: frames in, turns out. Glue between the listener and whoever takes turns.

The listener's models (wake word, VAD) run on one dedicated thread, frame by frame; turns
run as tasks on the event loop, so the listener keeps hearing (barge-in, "stop") while a
reply is being made and spoken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, Protocol, TypeVar

from secondself.core.bus import Bus
from secondself.core.events import Listening, NothingHeard, SpeechEnded, StageError, WakeDetected
from secondself.core.protocols import Audio, Transcriber
from secondself.voice.listener import (
    GaveUp,
    Heard,
    Listener,
    MaybeStop,
    Paused,
    Resumed,
    Signal,
    Woke,
)

log = logging.getLogger(__name__)


class TurnTaker(Protocol):
    """What the loop needs of a conversation (`secondself.answer.turn.Conversation`)."""

    def turn(self, audio: Audio, speculative: bool = False) -> Awaitable[object]:
        """The turn to await; its release() and stop() apply from this call on."""
        ...

    def stop(self) -> None:
        """Cut the reply in flight short (barge-in, "stop", a button press)."""
        ...

    def release(self) -> None:
        """A speculative turn was right: the user said nothing after the pause."""
        ...


class MicrophoneHooks(Protocol):
    """Where others borrow the microphone between turns (the button's memos, a photo's
    caption, mute): `secondself.hw.voice_hooks.VoiceHooks`. The voice path owns this
    Protocol, so it never imports the hardware."""

    @property
    def expecting_utterance(self) -> bool: ...

    def feed(self, listener: Listener, frame: Audio) -> list[Signal]:
        """In place of `listener.feed(frame)`, on the listener thread."""
        ...

    def take_utterance(self, audio: Audio) -> bool:
        """True: the utterance was theirs (a caption), so no turn runs."""
        ...

    def gave_up(self) -> None: ...


class NoHooks:
    """Nobody borrows the microphone (offline runs, benchmarks, tests)."""

    expecting_utterance = False

    def feed(self, listener: Listener, frame: Audio) -> list[Signal]:
        return listener.feed(frame)

    def take_utterance(self, audio: Audio) -> bool:
        return False

    def gave_up(self) -> None:
        pass


T = TypeVar("T", bound=TurnTaker)

# Whose persona a wake word calls, as (user, persona), and its conversation: a lookup, no
# I/O (the daemon makes every persona's conversation at start).
Router = Callable[[str], tuple[tuple[str, str], T]]


def never_stop(text: str) -> bool:
    return False


class VoiceLoop(Generic[T]):
    def __init__(
        self,
        bus: Bus,
        listener: Listener,
        conversation: T,
        stt: Transcriber,
        hooks: MicrophoneHooks | None = None,
        router: Router[T] | None = None,
        is_stop: Callable[[str], bool] = never_stop,
    ) -> None:
        self.bus = bus
        # The button and camera borrow the microphone through these (memos, captions, mute).
        self.hooks: MicrophoneHooks = hooks or NoHooks()
        self._is_stop = is_stop  # said over a reply: "stop" (the intent rules decide)
        self.listener = listener
        self.conversation = conversation  # the one a wake word last called
        self.stt = stt
        self._router = router
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="listener")
        self._turn: asyncio.Task[None] | None = None
        self._speculating = False  # self._turn started on a pause, not yet confirmed
        self._abandoned: asyncio.Task[None] | None = None
        self.frames_heard = 0

    async def run(self, frames: AsyncIterator[Audio], wait_for_turns: bool = False) -> None:
        """Listen until `frames` ends. `wait_for_turns` finishes each turn before reading on
        (offline runs of recordings, where audio does not arrive in real time)."""
        loop = asyncio.get_running_loop()
        try:
            async for frame in frames:
                self.frames_heard += 1
                signals = await loop.run_in_executor(
                    self._executor, self.hooks.feed, self.listener, frame
                )
                for signal in signals:
                    await self._act(signal)
                if wait_for_turns and self._turn is not None and not self._speculating:
                    await self._turn  # (a speculative turn waits for frames still to come)
            if self._turn is not None:
                await self._turn
        finally:
            if self._turn is not None and not self._turn.done():
                self.conversation.stop()
                self._turn.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._turn
            self._executor.shutdown(wait=False)

    async def _act(self, signal: Signal) -> None:
        match signal:
            case Woke(score=score, barge_in=barge_in, word=word):
                await self._abandon_speculation()  # a wake in a follow-up window
                if barge_in:
                    self.conversation.stop()
                user = persona = ""
                if self._router is not None:
                    (user, persona), self.conversation = self._router(word)
                self.bus.publish(WakeDetected(model=word, score=score, user=user, persona=persona))
                self.bus.publish(Listening(follow_up=False))
            case Paused(audio=audio):
                if self.hooks.expecting_utterance:
                    return  # a caption is coming, not a question
                if self._turn is None or self._turn.done():
                    self._speculating = True
                    turn = self.conversation.turn(audio, speculative=True)
                    self._turn = asyncio.create_task(self._run_turn(turn))
            case Resumed():
                await self._abandon_speculation()
            case Heard(audio=audio, speech_s=speech_s, cut=cut):
                reason = "max-length" if cut else "silence"
                self.bus.publish(SpeechEnded(duration_s=speech_s, reason=reason))
                if self.hooks.take_utterance(audio):
                    return  # the device took it (a photo's caption)
                if self._speculating and self._turn is not None and not self._turn.done():
                    self._speculating = False
                    self.conversation.release()  # nothing was said after the pause
                    return
                await self._abandon_speculation()
                if self._turn is not None and not self._turn.done():
                    await self._turn  # a barge-in: let the stopped reply wind down first
                self._turn = asyncio.create_task(self._run_turn(self.conversation.turn(audio)))
            case MaybeStop(audio=audio):
                text = await asyncio.to_thread(self.stt.transcribe, audio)
                if self._is_stop(text):
                    self.conversation.stop()
            case GaveUp(waited_s=waited_s):
                self.hooks.gave_up()
                self.bus.publish(NothingHeard(waited_s=waited_s))

    async def _abandon_speculation(self) -> None:
        if not self._speculating:
            return
        self._speculating = False
        self._abandoned = self._turn
        self.conversation.stop()
        if self._turn is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._turn

    async def _run_turn(self, turn: Awaitable[object]) -> None:
        loop = asyncio.get_running_loop()
        try:
            await turn
        except Exception as exc:  # one bad turn must never stop the daemon
            log.exception("turn failed")
            self.bus.publish(StageError(stage="turn", code="turn-failed", message=str(exc)))
        if asyncio.current_task() is self._abandoned:
            return  # the user went on talking: the listener is not done with them
        await loop.run_in_executor(self._executor, self.listener.reply_finished)
        if self.listener.mode == "listening":
            self.bus.publish(Listening(follow_up=True))
