"""The audit trail of governed actions: the one writer of `AuditEvent` rows."""

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import models

from audit.models import AuditEvent

_SECRET_MARKERS = ("secret", "password", "token", "api_key", "apikey")


def _masked(data: dict[str, Any]) -> dict[str, Any]:
    return {
        key: "***"
        if any(marker in key.lower() for marker in _SECRET_MARKERS)
        else (_masked(value) if isinstance(value, dict) else value)
        for key, value in data.items()
    }


def record_event(
    *,
    event_type: str,
    actor: User | AnonymousUser | None,
    subject: models.Model,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit row. Call it inside the transaction of the change it records.

    `event_type` is dotted `app.entity.verb`; `actor=None` means the system acted.
    Values under secret-looking keys are masked.
    """
    return AuditEvent.objects.create(
        event_type=event_type,
        actor=actor if actor is not None and actor.is_authenticated else None,
        subject_type=subject._meta.label_lower,
        subject_id=str(subject.pk),
        reason=reason,
        data=_masked(data or {}),
    )
