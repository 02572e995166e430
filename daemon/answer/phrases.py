"""What a turn says in its own words (not the user's, not a model's)."""

from __future__ import annotations

from secondself.answer.score import ScoreParts

# No memory answers the question (and the cloud may not, or did not): said, not guessed.
DONT_KNOW = "I don't know that yet."
# Said before a cloud answer, so the user knows it did not come from their memories.
SPOKEN_LEAD_IN = "From the cloud model:"

REPLIES = {
    "saved": "Okay, I'll remember that.",
    "remember_what": "What should I remember?",
    "forgot_none": "I found nothing like that to forget.",
    "no_camera": "The camera is not set up yet.",
    "sorry": "Sorry, something went wrong. Please try again.",
    "corrected": "Thanks, I'll remember that.",
    "not_answered_yet": "I haven't answered anything yet.",
}


def how_sure(parts: ScoreParts | None) -> str:
    """The personal score, said: the number and what it rests on."""
    if parts is None:
        return REPLIES["not_answered_yet"]
    if parts.grounding >= 0.99:
        why = "it is what you told me"
    elif parts.grounding >= 0.5:
        why = "most of it is in what you told me"
    else:
        why = "little of it is in what you told me"
    return f"About {parts.score} out of 100: {why}."


def forgot_reply(count: int) -> str:
    return f"Done. I forgot {count} {'memory' if count == 1 else 'memories'}."
