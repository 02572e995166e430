"""Smart Turn v3 on speech made at test time by piper: a finished sentence sounds finished,
one that trails off ("... um") does not, wherever it sits in the model's 8 s window."""

from __future__ import annotations

import numpy as np
import pytest

from secondself.voice.smart_turn import WINDOW_SAMPLES, SmartTurn, load_turn_model
from secondself.weights.manifest import ModelStore
from tests.conftest import Say, silence

pytestmark = pytest.mark.e2e

FINISHED = [
    "Remember that my dog is called Biscuit.",
    "Set a timer for ten minutes.",
    "What is the weather like tomorrow?",
]
UNFINISHED = [
    "Remember that my dog is called, um",
    "Remind me to buy, erm",
    "So I was thinking that we could",
]


@pytest.fixture(scope="module")
def smart_turn(model_store: ModelStore) -> SmartTurn:
    return load_turn_model(model_store, "smart-turn-v3")


def turn(say: Say, text: str) -> np.ndarray:
    """As the listener hands it over: a little pre-roll, the words, the first silent frame."""
    return np.concatenate([silence(0.3), say(text), silence(0.08)])


@pytest.mark.parametrize("text", FINISHED)
def test_a_finished_sentence_sounds_finished(smart_turn: SmartTurn, say: Say, text: str) -> None:
    assert smart_turn.complete_probability(turn(say, text)) > 0.8


@pytest.mark.parametrize("text", UNFINISHED)
def test_a_sentence_trailing_off_does_not(smart_turn: SmartTurn, say: Say, text: str) -> None:
    assert smart_turn.complete_probability(turn(say, text)) < 0.2


def test_only_the_last_8_seconds_count(smart_turn: SmartTurn, say: Say) -> None:
    unfinished = turn(say, UNFINISHED[0])
    # Ten seconds of an earlier sentence before it change nothing: it is cut off.
    long = np.concatenate([np.tile(say(FINISHED[1]), 6), unfinished])
    assert long.size > WINDOW_SAMPLES
    assert smart_turn.complete_probability(long) < 0.2
    assert smart_turn.complete_probability(long[-WINDOW_SAMPLES:]) == pytest.approx(
        smart_turn.complete_probability(long), abs=1e-6
    )
