"""Turn-taking, driven frame by frame with marked frames: no audio, no clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from secondself.core.config import load_config
from secondself.voice.endpointing import EndpointSettings
from secondself.voice.listener import (
    GaveUp,
    Heard,
    Listener,
    ListenerSettings,
    MaybeStop,
    Mode,
    Paused,
    Resumed,
    Signal,
    TurnSettings,
    Woke,
)
from tests.support.fakes import (
    QUIET,
    SPEECH,
    WAKE,
    MarkedVad,
    MarkedWakeWord,
    ScriptedTurnEnd,
    frame,
    marks,
)

pytestmark = pytest.mark.unit

SETTINGS = ListenerSettings(
    endpoint=EndpointSettings(trailing_silence_s=0.4, no_speech_timeout_s=1.6, pre_roll_s=0.16),
    follow_up_s=2.0,
    refractory_s=1.0,
)


def run(listener: Listener, kinds: list[int], speculation: bool = False) -> list[Signal]:
    """Feed marked frames; Paused/Resumed are left out unless `speculation`."""
    signals: list[Signal] = []
    for kind in kinds:
        signals.extend(listener.feed(frame(kind)))
    if speculation:
        return signals
    return [s for s in signals if not isinstance(s, Paused | Resumed)]


def new() -> Listener:
    return Listener(MarkedWakeWord(), MarkedVad(), SETTINGS)


def test_wake_then_question_is_heard() -> None:
    listener = new()
    signals = run(listener, [QUIET] * 5 + [WAKE] + [QUIET] * 2 + [SPEECH] * 10 + [QUIET] * 6)
    assert isinstance(signals[0], Woke) and not signals[0].barge_in
    heard = signals[1]
    assert isinstance(heard, Heard) and not heard.follow_up and not heard.cut
    # The utterance holds the speech frames and a little pre-roll, not the whole wait.
    kinds = [int(heard.audio[i]) for i in range(0, heard.audio.size, 1280)]
    assert kinds.count(SPEECH) == 10
    assert len(kinds) <= 10 + 2 + 5
    assert listener.mode is Mode.BUSY


def test_speech_without_the_wake_word_is_ignored() -> None:
    listener = new()
    assert run(listener, [SPEECH] * 30 + [QUIET] * 10) == []
    assert listener.mode is Mode.IDLE


def test_wake_then_silence_gives_up_and_goes_idle() -> None:
    listener = new()
    signals = run(listener, [WAKE] + [QUIET] * 25)
    assert isinstance(signals[-1], GaveUp) and not signals[-1].follow_up
    assert listener.mode is Mode.IDLE


def test_one_long_wake_word_is_one_wake() -> None:
    listener = new()
    signals = run(listener, [WAKE] * 4 + [QUIET] * 2)
    assert sum(isinstance(s, Woke) for s in signals) == 1


def test_follow_up_needs_no_wake_word_and_times_out_to_idle() -> None:
    listener = new()
    run(listener, [WAKE] + [SPEECH] * 5 + [QUIET] * 6)
    assert listener.mode is Mode.BUSY
    listener.reply_finished()
    assert listener.mode is Mode.LISTENING
    signals = run(listener, [QUIET] * 3 + [SPEECH] * 5 + [QUIET] * 6)
    assert isinstance(signals[0], Heard) and signals[0].follow_up
    listener.reply_finished()
    signals = run(listener, [QUIET] * 30)
    assert isinstance(signals[0], GaveUp) and signals[0].follow_up
    assert listener.mode is Mode.IDLE


def test_wake_word_in_a_follow_up_window_is_a_new_wake() -> None:
    """Right after one persona answered, another's wake word calls that one: the words after
    it are a new question, not a follow-up to the first."""
    listener = new()
    run(listener, [WAKE] + [SPEECH] * 5 + [QUIET] * 6)
    listener.reply_finished()
    signals = run(listener, [QUIET] * 2 + [WAKE] + [SPEECH] * 5 + [QUIET] * 6)
    assert isinstance(signals[0], Woke) and not signals[0].barge_in
    assert isinstance(signals[1], Heard) and not signals[1].follow_up


def test_a_caption_window_does_not_listen_for_the_wake_word() -> None:
    listener = new()
    listener.listen_now(timeout_s=2.0)
    signals = run(listener, [WAKE] + [SPEECH] * 5 + [QUIET] * 6)
    assert [type(s) for s in signals] == [Heard]


def test_wake_word_during_a_reply_is_a_barge_in() -> None:
    listener = new()
    run(listener, [WAKE] + [SPEECH] * 5 + [QUIET] * 6)
    signals = run(listener, [QUIET] * 3 + [WAKE])
    assert signals == [Woke(1.0, barge_in=True, word="marked")]
    assert listener.mode is Mode.LISTENING
    listener.reply_finished()  # the interrupted reply ending later changes nothing
    assert listener.mode is Mode.LISTENING


def test_short_utterance_during_a_reply_may_be_stop_long_one_is_not() -> None:
    listener = new()
    run(listener, [WAKE] + [SPEECH] * 5 + [QUIET] * 6)
    short = run(listener, [SPEECH] * 4 + [QUIET] * 6)
    assert len(short) == 1 and isinstance(short[0], MaybeStop)
    kinds = [int(short[0].audio[i]) for i in range(0, short[0].audio.size, 1280)]
    assert kinds.count(SPEECH) == 4
    long = run(listener, [SPEECH] * 30 + [QUIET] * 6)
    assert not any(isinstance(s, MaybeStop) for s in long)


def test_muted_listener_ignores_the_wake_word() -> None:
    listener = new()
    listener.set_muted(True)
    assert run(listener, [WAKE] + [SPEECH] * 5 + [QUIET] * 6) == []
    listener.set_muted(False)
    assert isinstance(run(listener, [WAKE])[0], Woke)


def test_waiting_keeps_memory_flat() -> None:
    listener = Listener(
        MarkedWakeWord(),
        MarkedVad(),
        ListenerSettings(endpoint=EndpointSettings(no_speech_timeout_s=60)),
    )
    run(listener, [WAKE] + [QUIET] * 500)
    assert len(listener._frames) < 20


def test_a_pause_starts_work_early_and_speech_after_it_takes_it_back() -> None:
    listener = new()  # speculate after 0.25 s (4 frames) of a 0.4 s trailing silence
    signals = run(listener, [WAKE] + [SPEECH] * 5 + [QUIET] * 4, speculation=True)
    assert isinstance(signals[-1], Paused)
    kinds = [int(signals[-1].audio[i]) for i in range(0, signals[-1].audio.size, 1280)]
    assert kinds.count(SPEECH) == 5
    signals = run(listener, [SPEECH] * 3 + [QUIET] * 8, speculation=True)
    assert [type(s) for s in signals] == [Resumed, Paused, Heard]


def test_the_wake_word_sleeps_through_silence_and_catches_up_on_speech() -> None:
    wake = MarkedWakeWord()
    listener = Listener(wake, MarkedVad(), SETTINGS)
    run(listener, [QUIET] * 100)
    assert wake.heard == []  # a silent room costs no wake-word work
    signals = run(listener, [QUIET] * 3 + [WAKE])
    assert isinstance(signals[0], Woke)
    # It first heard the audio leading up to the speech, then the wake word.
    assert wake.heard[-4:] == [QUIET, QUIET, QUIET, WAKE]


# --- with an end-of-turn model ------------------------------------------------------------

# Without the model a pause ends the turn after 0.4 s (5 frames); with it after 0.16 s
# (2 frames) when the sentence sounds finished, 1.2 s (15 frames) when it does not.
TURN = replace(SETTINGS, turn=TurnSettings(complete_silence_s=0.16, incomplete_silence_s=1.2))


def frames_until_heard(listener: Listener, kinds: list[int]) -> int | None:
    """How many frames were fed when Heard came (None: it did not)."""
    for count, kind in enumerate(kinds, start=1):
        if any(isinstance(s, Heard) for s in listener.feed(frame(kind))):
            return count
    return None


def test_a_finished_sentence_ends_the_turn_after_a_short_silence() -> None:
    model = ScriptedTurnEnd([0.9])
    listener = Listener(MarkedWakeWord(), MarkedVad(), TURN, turn=model)
    run(listener, [WAKE])
    assert frames_until_heard(listener, [SPEECH] * 6 + [QUIET] * 10) == 6 + 2
    # Asked once, at the first silent frame, about the turn so far (pre-roll, speech, pause).
    assert model.heard == [[SPEECH] * 6 + [QUIET]]
    without = new()
    run(without, [WAKE])
    assert frames_until_heard(without, [SPEECH] * 6 + [QUIET] * 10) == 6 + 5


def test_an_unfinished_sentence_waits_for_the_rest() -> None:
    """ "My dog is called ... um ... Biscuit": a 0.8 s pause that silence alone would end."""
    model = ScriptedTurnEnd([0.1, 0.9])
    listener = Listener(MarkedWakeWord(), MarkedVad(), TURN, turn=model)
    run(listener, [WAKE])
    hesitant = [SPEECH] * 6 + [QUIET] * 10 + [SPEECH] * 4 + [QUIET] * 10
    signals = run(listener, hesitant)
    [heard] = [s for s in signals if isinstance(s, Heard)]
    assert marks(heard.audio).count(SPEECH) == 10  # all of it, in one turn
    assert len(model.heard) == 2  # once per pause
    without = new()
    run(without, [WAKE])
    cut = next(s for s in run(without, hesitant) if isinstance(s, Heard))
    assert marks(cut.audio).count(SPEECH) == 6  # silence alone cut the user off


def test_an_unfinished_sentence_still_ends_after_the_long_silence() -> None:
    listener = Listener(MarkedWakeWord(), MarkedVad(), TURN, turn=ScriptedTurnEnd([0.2]))
    run(listener, [WAKE])
    assert frames_until_heard(listener, [SPEECH] * 6 + [QUIET] * 20) == 6 + 15


def test_a_finished_sentence_starts_work_at_once_and_the_pause_confirms_it() -> None:
    listener = Listener(MarkedWakeWord(), MarkedVad(), TURN, turn=ScriptedTurnEnd([0.9]))
    run(listener, [WAKE])
    signals = [listener.feed(frame(kind)) for kind in [SPEECH] * 6 + [QUIET] * 2]
    assert [[type(s) for s in step] for step in signals[6:]] == [[Paused], [Heard]]


def test_the_model_is_asked_only_at_pauses_of_a_turn() -> None:
    """Idle listening, a reply being spoken and long speech cost no model work."""
    model = ScriptedTurnEnd([0.9])
    listener = Listener(MarkedWakeWord(), MarkedVad(), TURN, turn=model)
    run(listener, [QUIET] * 50 + [SPEECH] * 20 + [QUIET] * 20)  # no wake word
    run(listener, [WAKE] + [SPEECH] * 30)
    assert model.heard == []
    run(listener, [QUIET] * 2)  # the pause: asked once
    assert listener.mode is Mode.BUSY and len(model.heard) == 1
    run(listener, [SPEECH] * 4 + [QUIET] * 8)  # a "stop" over the reply
    assert len(model.heard) == 1


def test_a_reload_while_listening_takes_the_new_settings() -> None:
    listener = new()
    run(listener, [WAKE] + [SPEECH] * 3)
    listener.reconfigure(replace(SETTINGS, follow_up_s=0.0))
    signals = run(listener, [SPEECH] * 3 + [QUIET] * 6)
    assert [type(s) for s in signals] == [Heard]
    listener.reply_finished()
    assert listener.mode is Mode.IDLE  # no follow-up window any more


def test_turn_settings_come_from_the_config() -> None:
    environ = {"SECONDSELF_TURN_COMPLETE_SILENCE_S": "0.3", "SECONDSELF_TURN_THRESHOLD": "0.7"}
    config = load_config(environ=environ, system_files=[])
    turn = ListenerSettings.from_config(config).turn
    assert (turn.threshold, turn.complete_silence_s, turn.incomplete_silence_s) == (0.7, 0.3, 2.0)
