"""Keyed, reproducible random draws: which items get a second blind review, and
the order in which audit sampling takes interactions.

A draw is the keyed hash of a purpose and an id mapped onto [0, 1): stable for
the same id (a redelivered task draws the same), unpredictable to a client that
does not hold `PSEUDONYM_KEY` (nobody can choose ids that escape an audit).
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings


def draw(purpose: str, key: object) -> float:
    """A uniform value in [0, 1) for (`purpose`, `key`)."""
    digest = hmac.new(
        settings.PSEUDONYM_KEY.encode(),
        f"{purpose}\x00{key}".encode(),
        hashlib.sha256,
    ).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def drawn_for_double_review(key: object) -> bool:
    """Whether the review item created for `key` (an event id) is reviewed blind
    by two senior analysts (`DOUBLE_REVIEW_SHARE`)."""
    return draw("double-review", key) < settings.DOUBLE_REVIEW_SHARE
