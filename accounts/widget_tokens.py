"""Short-lived signed tokens that let a browser post feedback for one response.

`resolve` (registry) issues one per response id; the widget endpoint accepts it
instead of an API key, for that response only, until it expires. Signed with
SECRET_KEY through django.core.signing under its own salt; nothing is stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.utils import timezone

from accounts.exceptions import FeedbackTokenError

SALT = "loopgate.feedback.widget"
DEFAULT_TTL = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class FeedbackToken:
    """A token and what it grants."""

    token: str
    response_id: uuid.UUID
    expires_at: datetime


def _ttl() -> timedelta:
    seconds = getattr(settings, "FEEDBACK_TOKEN_TTL_SECONDS", None)
    return timedelta(seconds=seconds) if seconds else DEFAULT_TTL


def issue_feedback_token(
    *, response_id: uuid.UUID, ttl: timedelta | None = None
) -> FeedbackToken:
    """Sign a token for `response_id` that expires after `ttl` (default 30 min)."""
    expires_at = timezone.now() + (ttl if ttl is not None else _ttl())
    expires_at = expires_at.replace(microsecond=0)  # what the token can carry
    payload = {"r": response_id.hex, "e": int(expires_at.timestamp())}
    return FeedbackToken(signing.dumps(payload, salt=SALT), response_id, expires_at)


def read_feedback_token(token: str) -> FeedbackToken:
    """Verify signature and expiry; raise FeedbackTokenError otherwise."""
    try:
        payload = signing.loads(token, salt=SALT)
        response_id = uuid.UUID(hex=payload["r"])
        expires_at = datetime.fromtimestamp(int(payload["e"]), tz=UTC)
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise FeedbackTokenError("Invalid feedback token.", field="token") from None
    if expires_at <= timezone.now():
        raise FeedbackTokenError("This feedback token has expired.", field="token")
    return FeedbackToken(token, response_id, expires_at)
