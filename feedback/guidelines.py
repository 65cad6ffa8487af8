"""Versioned review guidelines: immutable versions, the one in force, trend marks.

A change of guidelines is a new version with the next number, its text, author
and effective date (now or later, never in the past: decisions already taken
recorded the version that was in force). Every review decision stores the
version in force when it was taken; the quality report and the accuracy
dashboard mark the moments a new version took effect.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.services import record_event
from feedback.exceptions import ReviewError
from feedback.quality_models import GuidelineVersion
from feedback.redaction import redact

MAX_TEXT = 100_000
# Clock skew allowed for "effective now" sent by a client.
PAST_SKEW_S = 300
# A version scheduled further ahead would hold back every later one (versions
# never take effect out of order): a typo such as year 9999 is refused.
MAX_AHEAD = timedelta(days=366)


def check_version(*, text: str, effective_at: datetime | None) -> tuple[str, datetime]:
    """Validate a new version's input (ReviewError names the field); return the
    redacted text and the effective time (default now)."""
    body = redact(text.strip()).text
    if not body:
        raise ReviewError("The guidelines need a text.", field="text")
    if len(body) > MAX_TEXT:
        raise ReviewError(f"At most {MAX_TEXT} characters.", field="text")
    now = timezone.now()
    effective = effective_at or now
    if effective.tzinfo is None:
        raise ReviewError("Give a time zone (e.g. Z).", field="effective_at")
    if (now - effective).total_seconds() > PAST_SKEW_S:
        raise ReviewError(
            "Guidelines take effect now or later: decisions already taken "
            "recorded the version in force.",
            field="effective_at",
        )
    if effective - now > MAX_AHEAD:
        raise ReviewError(
            "Schedule guidelines at most a year ahead.", field="effective_at"
        )
    return body, effective


@transaction.atomic
def publish_guideline_version(
    *, text: str, author: User, effective_at: datetime | None = None
) -> GuidelineVersion:
    """Add the next guideline version (ML leads). Records
    `feedback.guideline_version.published`.

    `effective_at` defaults to now and may not lie in the past; the text is
    redacted like every other stored free text.
    """
    body, effective = check_version(text=text, effective_at=effective_at)
    # Serialize publishers: the next number is read and written under one lock.
    latest = GuidelineVersion.objects.select_for_update().order_by("-number").first()
    if latest is not None and effective < latest.effective_at:
        raise ReviewError(
            f"Version {latest.number} takes effect at "
            f"{latest.effective_at.isoformat()}; a newer version cannot take "
            "effect before it.",
            field="effective_at",
        )
    number = (GuidelineVersion.objects.aggregate(n=Max("number"))["n"] or 0) + 1
    version = GuidelineVersion.objects.create(
        number=number, text=body, effective_at=effective, author=author
    )
    record_event(
        event_type="feedback.guideline_version.published",
        actor=author,
        subject=version,
        data={"number": number, "effective_at": effective.isoformat()},
    )
    return version


def guideline_in_force(at: datetime | None = None) -> GuidelineVersion | None:
    """The version in force at `at` (default now): the newest already effective."""
    return (
        GuidelineVersion.objects.filter(effective_at__lte=at or timezone.now())
        .order_by("-effective_at", "-number")
        .first()
    )


def guideline_changes(
    start: datetime | None = None, end: datetime | None = None
) -> list[tuple[datetime, str]]:
    """(effective time, label) of every version taking effect in [start, end]."""
    versions = GuidelineVersion.objects.order_by("effective_at", "number")
    if start is not None:
        versions = versions.filter(effective_at__gte=start)
    if end is not None:
        versions = versions.filter(effective_at__lte=end)
    return [(v.effective_at, f"guidelines v{v.number}") for v in versions]
