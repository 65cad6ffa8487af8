"""The feedback-category taxonomy: why a person gave explicit feedback.

Django-free and versioned (`TAXONOMY_VERSION`): every stored category keeps the
version it was assigned under. Only `wrong_answer` means the assistant's SQL was
wrong, so only it (or an uncategorized negative signal) counts towards the
negative-feedback rate that opens retraining decisions; a `slow` complaint
never does. The field is `topic` on the wire: `category` already names a
signal's kind (explicit, implicit, outcome).
"""

from __future__ import annotations

__all__ = [
    "ALLOWED_TOPICS",
    "TAXONOMY_VERSION",
    "TOPICS",
    "WRONG_ANSWER",
    "topic_problem",
]

TAXONOMY_VERSION = "feedback-categories/1"
WRONG_ANSWER = "wrong_answer"

TOPICS: dict[str, str] = {
    WRONG_ANSWER: "Wrong answer",
    "slow": "Slow",
    "confusing": "Confusing",
    "missing_feature": "Missing feature or request",
    "praise": "Praise",
}

# Which explicit feedback types may carry which topic.
ALLOWED_TOPICS: dict[str, frozenset[str]] = {
    "thumbs_up": frozenset(("praise", "slow", "confusing", "missing_feature")),
    "thumbs_down": frozenset((WRONG_ANSWER, "slow", "confusing", "missing_feature")),
    "comment": frozenset(TOPICS),
    "correction": frozenset((WRONG_ANSWER,)),
}


def topic_problem(feedback_type: str, topic: str) -> str:
    """Why `topic` cannot label feedback of `feedback_type` ("" when it can)."""
    if topic not in TOPICS:
        return f"Must be one of: {', '.join(TOPICS)}."
    allowed = ALLOWED_TOPICS.get(feedback_type)
    if allowed is None:
        return f"{feedback_type} feedback carries no category."
    if topic not in allowed:
        return f"{feedback_type} feedback takes one of: {', '.join(sorted(allowed))}."
    return ""
