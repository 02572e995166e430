"""What the user wants, from the transcript: simple, documented rules in one table.

Rules are tried in order; the first that matches wins; anything else is a question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Intent(StrEnum):
    ASK = "ask"
    REMEMBER = "remember"
    FORGET = "forget"
    SNAPSHOT = "snapshot"
    STOP = "stop"
    HOW_SURE = "how_sure"
    CORRECT = "correct"


@dataclass(frozen=True, slots=True)
class Rule:
    intent: Intent
    pattern: re.Pattern[str]
    example: str  # shown in the README and checked by the tests


def _rule(intent: Intent, pattern: str, example: str) -> Rule:
    return Rule(intent, re.compile(pattern), example)


# The phrase table. `arg` is what the intent acts on (the memory to save, what to forget).
RULES: tuple[Rule, ...] = (
    _rule(
        Intent.STOP,
        r"^(stop|cancel|never ?mind|be quiet|quiet|shut up|that's enough)( it| that| please)?$",
        "Stop.",
    ),
    _rule(
        Intent.REMEMBER,
        r"^(please )?(remember|note|don't forget|do not forget)( that)?[,:]? (?P<arg>.+)$",
        "Remember that my dog is called Biscuit.",
    ),
    _rule(
        Intent.FORGET,
        r"^(please )?forget( about| that| everything about)?[,:]? (?P<arg>.+)$",
        "Forget my old phone number.",
    ),
    _rule(
        Intent.SNAPSHOT,
        # Not a question about pictures taken before ("Did I take a picture yesterday?",
        # "What did I take a picture of?", "How often do I take a photo?").
        r"^(?!(did|do|does|have|had|has|when|which|how many|how often|where|why)\b)"
        r"(?!.*\b(did|do|does|have|had|has) (i|you|we)\b)"
        r".*\b(take|snap|make) (a |another )?(picture|photo|snapshot)\b",
        "Take a picture.",
    ),
    _rule(
        Intent.HOW_SURE,
        r"^how (sure|certain|confident) are you",
        "How sure are you?",
    ),
    _rule(
        Intent.CORRECT,
        r"^(no|nope|wrong|that's wrong|that is wrong)[,.!]? "
        r"(it's|it is|that's|that is|actually)? ?(?P<arg>.+)$",
        "No, it's Rex.",
    ),
)

# Leftovers of the wake word that the recogniser may hear in the pre-roll.
_WAKE_PREFIX = re.compile(r"^((hey|hi|okay|ok)[ ,]+)?(jarvis|alexa|mycroft|marvin)\b[ ,.!?]*")


@dataclass(frozen=True, slots=True)
class Recognized:
    intent: Intent
    argument: str  # the memory to save, what to forget, or the question itself
    text: str  # the cleaned transcript


def normalize(transcript: str) -> str:
    text = " ".join(transcript.strip().split())
    text = text.replace("\u2019", "'")
    return _WAKE_PREFIX.sub("", text.lower()).strip()


# The tail of the wake word, heard in the pre-roll, often comes out as one short word
# ("I remember that ..."); a command is still recognised after it.
_STRAY = re.compile(r"^(i|a|uh|um|ah|oh|er)[ ,.]+")


def recognize(transcript: str) -> Recognized:
    text = normalize(transcript)
    bare = text.rstrip(".!? ")
    found = _match(bare) or _match(_STRAY.sub("", bare))
    if found is None:
        return Recognized(Intent.ASK, _strip_wake(transcript), text)
    rule, match = found
    argument = (match.groupdict().get("arg") or "").strip(" ,.")
    if rule.intent in (Intent.REMEMBER, Intent.CORRECT, Intent.FORGET):
        argument = _original_case(transcript, argument)
    return Recognized(rule.intent, argument, text)


def _match(text: str) -> tuple[Rule, re.Match[str]] | None:
    for rule in RULES:
        if match := rule.pattern.search(text):
            return rule, match
    return None


def _strip_wake(transcript: str) -> str:
    """The question as said (original case), without a leading wake word."""
    cleaned = " ".join(transcript.strip().split()).replace("\u2019", "'")
    match = _WAKE_PREFIX.match(cleaned.lower())
    return cleaned[match.end() :].strip() if match else cleaned


def _original_case(transcript: str, lowered: str) -> str:
    """Recover the argument with the user's capitals (names matter in memories)."""
    cleaned = _strip_wake(transcript)
    start = cleaned.lower().find(lowered)
    return cleaned[start : start + len(lowered)] if start >= 0 else lowered
