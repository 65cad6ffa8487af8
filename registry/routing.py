"""Deterministic, sticky traffic splitting (Django-free)."""

import hashlib


def bucket(*, salt: str, session_id: str) -> float:
    """Map a session to a stable point in [0, 1).

    The same session always lands in the same place for the same salt, so a
    session keeps seeing the same pair; different salts split independently.
    """
    digest = hashlib.sha256(f"{salt}\x00{session_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def takes_session(
    *, template_name: str, label_name: str, share: float, session_id: str
) -> bool:
    """Whether a label with `share` of the traffic serves `session_id` (one salt
    per template and label). Routing and the online comparisons both ask this,
    so a comparison counts exactly the sessions routing sent."""
    return bucket(salt=f"{template_name}:{label_name}", session_id=session_id) < share
