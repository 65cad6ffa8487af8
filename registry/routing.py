"""Deterministic, sticky traffic splitting (Django-free)."""

import hashlib


def bucket(*, salt: str, session_id: str) -> float:
    """Map a session to a stable point in [0, 1).

    The same session always lands in the same place for the same salt, so a
    session keeps seeing the same pair; different salts split independently.
    """
    digest = hashlib.sha256(f"{salt}\x00{session_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
