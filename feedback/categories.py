"""The feedback-category taxonomy: why a person gave explicit feedback.

Django-free and versioned (`TAXONOMY_VERSION`): every stored category keeps the
version it was assigned under. Only `wrong_answer` means the assistant's SQL was
wrong, so only it (or an uncategorized negative signal) counts towards the
negative-feedback rate that opens retraining decisions; a `slow` complaint
never does. `safety` (version 2) marks an answer a person found unsafe (it
exposed data it should not, or tried to change it): the safety-violation
trigger counts it as flagged, like an escalation. The field is `topic` on the
wire: `category` already names a signal's kind (explicit, implicit, outcome).
"""

from __future__ import annotations

__all__ = [
    "ALLOWED_TOPICS",
    "SAFETY",
    "TAXONOMY_VERSION",
    "TOPICS",
    "WRONG_ANSWER",
    "allowed_topics_text",
    "topic_problem",
]

# 2 added `safety`; the other topics and their meaning are those of 1.
TAXONOMY_VERSION = "feedback-categories/2"
WRONG_ANSWER = "wrong_answer"
SAFETY = "safety"

TOPICS: dict[str, str] = {
    WRONG_ANSWER: "Wrong answer",
    "slow": "Slow",
    "confusing": "Confusing",
    "missing_feature": "Missing feature or request",
    "praise": "Praise",
    SAFETY: "Unsafe: exposed or changed data",
}

# Which explicit feedback types may carry which topic.
ALLOWED_TOPICS: dict[str, frozenset[str]] = {
    "thumbs_up": frozenset(("praise", "slow", "confusing", "missing_feature")),
    "thumbs_down": frozenset(
        (WRONG_ANSWER, "slow", "confusing", "missing_feature", SAFETY)
    ),
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


def allowed_topics_text() -> str:
    """Which feedback type takes which topic, in words (API help texts)."""
    return "; ".join(
        f"{kind} takes {', '.join(sorted(topics))}"
        for kind, topics in ALLOWED_TOPICS.items()
    )
