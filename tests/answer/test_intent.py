from __future__ import annotations

import pytest

from secondself.answer.intent import RULES, Intent, recognize

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("transcript", "intent", "argument"),
    [
        ("What is my dog's name?", Intent.ASK, "What is my dog's name?"),
        ("Hey Jarvis, what is my dog's name?", Intent.ASK, "what is my dog's name?"),
        ("Jarvis. When is Anna's birthday?", Intent.ASK, "When is Anna's birthday?"),
        ("Remember that my dog is called Biscuit.", Intent.REMEMBER, "my dog is called Biscuit"),
        (
            "remember, the spare key is under the blue pot",
            Intent.REMEMBER,
            "the spare key is under the blue pot",
        ),
        ("Please remember my PIN hint is Oslo.", Intent.REMEMBER, "my PIN hint is Oslo"),
        ("Don't forget that Sam likes tea.", Intent.REMEMBER, "Sam likes tea"),
        ("Forget my old phone number.", Intent.FORGET, "my old phone number"),
        ("Forget about the party.", Intent.FORGET, "the party"),
        ("Take a picture.", Intent.SNAPSHOT, ""),
        ("Could you take a photo of this?", Intent.SNAPSHOT, ""),
        ("Please snap another picture.", Intent.SNAPSHOT, ""),
        ("Take a picture of what I have here.", Intent.SNAPSHOT, ""),
        ("Take a photo of the receipt which I just got.", Intent.SNAPSHOT, ""),
        ("Did I take a picture yesterday?", Intent.ASK, "Did I take a picture yesterday?"),
        (
            "What did I take a picture of yesterday?",
            Intent.ASK,
            "What did I take a picture of yesterday?",
        ),
        (
            "Who did I take a picture of last week?",
            Intent.ASK,
            "Who did I take a picture of last week?",
        ),
        ("How often do I take a photo?", Intent.ASK, "How often do I take a photo?"),
        ("Could you take a photo of what I did today?", Intent.SNAPSHOT, ""),
        (
            "When did I take a photo of the garden?",
            Intent.ASK,
            "When did I take a photo of the garden?",
        ),
        ("Stop.", Intent.STOP, ""),
        ("Cancel", Intent.STOP, ""),
        ("never mind.", Intent.STOP, ""),
        ("How sure are you?", Intent.HOW_SURE, ""),
        ("No, it's Rex.", Intent.CORRECT, "Rex"),
        (
            "Stop the music in the kitchen at six",
            Intent.ASK,
            "Stop the music in the kitchen at six",
        ),
        (
            "What did I say about remembering things?",
            Intent.ASK,
            "What did I say about remembering things?",
        ),
        ("", Intent.ASK, ""),
        ("I remember that my dog is called Biscuit.", Intent.REMEMBER, "my dog is called Biscuit"),
        ("Uh, forget the party.", Intent.FORGET, "the party"),
        ("I think my dog is called Biscuit?", Intent.ASK, "I think my dog is called Biscuit?"),
    ],
)
def test_rules(transcript: str, intent: Intent, argument: str) -> None:
    recognized = recognize(transcript)
    assert (recognized.intent, recognized.argument) == (intent, argument)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.intent.value)
def test_every_documented_example_matches_its_rule(rule: object) -> None:
    assert recognize(rule.example).intent is rule.intent  # type: ignore[attr-defined]
