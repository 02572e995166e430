"""The endpointing state machine, driven by probability patterns: no audio, no clock."""

from __future__ import annotations

import pytest

from secondself.core.config import VadConfig
from secondself.voice.endpointing import Endpoint, Endpointer, EndpointSettings, Outcome, State

pytestmark = pytest.mark.unit

FRAME_S = 0.08
# One character per 80 ms frame: '.' silence, 'S' speech, 'm' exactly at the threshold.
LEVELS = {".": 0.05, "S": 0.95, "m": 0.5}
SHORT = {
    State.WAITING_FOR_SPEECH: "W",
    State.IN_SPEECH: "I",
    State.TRAILING_SILENCE: "T",
    State.DONE: "D",
    State.TIMED_OUT: "X",
}

# Small numbers so patterns stay readable: in frames, trailing silence 3, max utterance 10,
# no-speech timeout 5, minimum speech 2, pre-roll 2, post-roll 1.
SETTINGS = EndpointSettings(
    threshold=0.5,
    trailing_silence_s=0.24,
    max_utterance_s=0.8,
    no_speech_timeout_s=0.4,
    min_speech_s=0.16,
    pre_roll_s=0.16,
    post_roll_s=0.08,
)


def run(pattern: str, settings: EndpointSettings = SETTINGS) -> tuple[Endpointer, str]:
    """Feed the pattern until the machine finishes; returns it and the states it went through."""
    endpointer = Endpointer(settings)
    states = ""
    for char in pattern:
        states += SHORT[endpointer.update(LEVELS[char], FRAME_S)]
        if endpointer.finished:
            break
    return endpointer, states


@pytest.mark.parametrize(
    ("pattern", "outcome", "start", "end", "fed"),
    [
        # speech then silence: ends after 3 silent frames; pre-roll 2, post-roll 1
        ("..SSSS.......", Outcome.ENDED, 0, 7, 9),
        # pre-roll reaches back 2 frames before the first speech frame, not further
        ("....SSS.......", Outcome.ENDED, 2, 8, 10),
        # speech from the very first frame: pre-roll clipped at 0
        ("SS.....", Outcome.ENDED, 0, 3, 5),
        # a short pause inside speech does not end it
        ("SS..SS......", Outcome.ENDED, 0, 7, 9),
        # at the threshold counts as speech
        ("mm.....", Outcome.ENDED, 0, 3, 5),
        # too long: cut at 10 frames (0.8 s) after speech starts
        ("SSSSSSSSSSSSSSSS", Outcome.CUT, 0, 10, 10),
        ("...SSSSSSSSSSSSSSSS", Outcome.CUT, 1, 13, 13),
        # silence only: nothing heard after 5 frames (0.4 s)
        ("..........", Outcome.NO_SPEECH, 5, 5, 5),
        # single-frame blips are below the 2-frame minimum: not speech, still times out
        (".S.S.S.S..", Outcome.NO_SPEECH, 5, 5, 5),
        # a blip at the deadline delays the timeout by its length, no more
        ("....S.....", Outcome.NO_SPEECH, 6, 6, 6),
        # a run that starts before the timeout may still become speech
        ("....SS.....", Outcome.ENDED, 2, 7, 9),
    ],
)
def test_outcomes(pattern: str, outcome: Outcome, start: int, end: int, fed: int) -> None:
    endpointer, states = run(pattern)
    assert endpointer.finished
    assert len(states) == fed
    assert endpointer.result is not None
    assert (endpointer.result.outcome, endpointer.result.start_frame) == (outcome, start)
    assert endpointer.result.end_frame == end


@pytest.mark.parametrize(
    ("pattern", "states"),
    [
        ("..SS.S...", "WWWITITTD"),
        ("SSSSSSSSSSSS", "WIIIIIIIID"),
        ("......", "WWWWX"),
        ("S.SS...", "WWWITTD"),
        ("..SS", "WWWI"),
    ],
)
def test_state_sequence(pattern: str, states: str) -> None:
    assert run(pattern)[1] == states


def test_unfinished_has_no_result() -> None:
    endpointer, _ = run("..SSS.")
    assert endpointer.state is State.TRAILING_SILENCE
    assert not endpointer.finished
    assert endpointer.result is None


def test_frames_after_the_end_are_ignored() -> None:
    endpointer, _ = run("SS...")
    result = endpointer.result
    assert endpointer.update(0.99, FRAME_S) is State.DONE
    assert endpointer.result == result


def test_speech_duration_excludes_trailing_silence() -> None:
    endpointer, _ = run("..SSSS....")
    assert endpointer.result is not None
    assert endpointer.result.speech_s == pytest.approx(4 * FRAME_S)


def test_result_slice_cuts_the_utterance() -> None:
    frames = list("....SSS.......")
    endpointer, _ = run("".join(frames))
    assert endpointer.result is not None
    assert endpointer.result.heard
    assert "".join(frames[endpointer.result.frames]) == "..SSS."


def test_nothing_heard_is_not_heard() -> None:
    result = run("......")[0].result
    assert result == Endpoint(Outcome.NO_SPEECH, 5, 5, 0.0)
    assert not result.heard


@pytest.mark.parametrize(
    ("pattern", "keep_from"),
    [
        ("", 0),
        ("....", 2),  # only the pre-roll is still needed while waiting
        ("....S", 2),  # a speech run started at 4: keep its pre-roll
        ("......SS", 4),
        ("......SS..", 4),
    ],
)
def test_keep_from(pattern: str, keep_from: int) -> None:
    settings = EndpointSettings(
        no_speech_timeout_s=10.0, min_speech_s=0.16, pre_roll_s=0.16, trailing_silence_s=1.0
    )
    endpointer, _ = run(pattern, settings)
    assert endpointer.keep_from == keep_from


def test_longer_frames_count_by_time_not_frames() -> None:
    # 160 ms frames: the 0.24 s trailing silence takes 2 frames, the 0.16 s pre-roll 1.
    endpointer = Endpointer(SETTINGS)
    for p in (0.05, 0.05, 0.9, 0.9, 0.05, 0.05):
        endpointer.update(p, 0.16)
    result = endpointer.result
    assert result is not None
    assert (result.outcome, result.start_frame, result.end_frame) == (Outcome.ENDED, 1, 5)
    assert result.speech_s == pytest.approx(0.32)


def test_settings_from_config() -> None:
    vad = VadConfig(threshold=0.6, trailing_silence_s=0.7, no_speech_timeout_s=3.0, follow_up_s=8)
    assert EndpointSettings.from_config(vad).no_speech_timeout_s == 3.0
    follow_up = EndpointSettings.from_config(vad, follow_up=True)
    assert (follow_up.threshold, follow_up.no_speech_timeout_s) == (0.6, 8)
    assert follow_up.with_timeout(1.5).no_speech_timeout_s == 1.5


def feed(endpointer: Endpointer, pattern: str) -> str:
    return "".join(SHORT[endpointer.update(LEVELS[char], FRAME_S)] for char in pattern)


def test_a_pause_can_be_told_to_end_sooner_or_later() -> None:
    """The turn model's verdict at a pause's first silent frame: 1 frame of silence for a
    finished sentence, 6 for an unfinished one, instead of the usual 3."""
    sooner = Endpointer(SETTINGS)
    assert feed(sooner, "..SS.") == "WWWIT"
    sooner.end_pause_after(0.16)
    assert feed(sooner, ".") == "D"
    later = Endpointer(SETTINGS)
    feed(later, "..SS.")
    later.end_pause_after(0.48)
    assert feed(later, ".....") == "TTTTD"
    assert later.result is not None and later.result.end_frame == 5  # speech + post-roll


def test_speech_after_a_long_pause_restores_the_usual_silence() -> None:
    endpointer = Endpointer(SETTINGS)
    feed(endpointer, "..SS.")
    endpointer.end_pause_after(0.4)
    assert feed(endpointer, "..S...") == "TTITTD"  # the next pause ends after 3 again


def test_only_a_pause_under_way_is_changed() -> None:
    endpointer = Endpointer(SETTINGS)
    feed(endpointer, "..SS")
    endpointer.end_pause_after(0.08)  # still talking: nothing to change
    assert feed(endpointer, "...") == "TTD"
