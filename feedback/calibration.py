"""The calibration set: decided items with a known outcome, reviewed first.

ML leads add decided review items to the set (their outcome becomes the
expected verdict). A senior analyst answers every item of the set before
working the live queue (claims, blind verdicts, adjudication); an item added
later is answered before the next piece of live work. Answers are blind (the
expected verdict is not shown) and written once; each reviewer's agreement with
the expected verdicts is shown to them when they finish and in the quality
report. Items of people who withdrew consent leave the set.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from audit.services import record_event
from feedback.consent import revoked_items_filter
from feedback.exceptions import (
    CalibrationRequired,
    ReviewConflictError,
    ReviewError,
)
from feedback.guidelines import guideline_in_force
from feedback.models import ReviewItem
from feedback.quality_models import (
    CalibrationAnswer,
    CalibrationItem,
    Verdict,
)

EXPECTED = {
    ReviewItem.State.APPROVED: Verdict.APPROVE,
    ReviewItem.State.REJECTED: Verdict.REJECT,
}


def calibration_set() -> QuerySet[CalibrationItem]:
    """The active set: items of people who still consent, oldest first."""
    revoked = ReviewItem.objects.filter(revoked_items_filter()).values("pk")
    return (
        CalibrationItem.objects.exclude(item__in=revoked)
        .select_related("item__interaction", "item__feedback", "item__template")
        .order_by("pk")
    )


def unanswered(user: User) -> QuerySet[CalibrationItem]:
    """Items of the set `user` has not answered yet."""
    return calibration_set().exclude(answers__reviewer=user)


def require_calibrated(user: User) -> None:
    """Refuse live-queue work (403) until `user` answered the whole set."""
    missing = unanswered(user).count()
    if missing:
        raise CalibrationRequired(
            f"Review the calibration set first: {missing} item(s) left "
            "(/api/v1/feedback/calibration/)."
        )


@transaction.atomic
def add_calibration_item(*, item: ReviewItem, acting_user: User) -> CalibrationItem:
    """Add a decided item to the set (ML leads). Records
    `feedback.calibration_item.added`."""
    item = ReviewItem.objects.select_for_update().get(pk=item.pk)
    expected = EXPECTED.get(ReviewItem.State(item.state))
    if expected is None or item.decided_by_id is None:
        raise ReviewError(
            "Only items a reviewer approved or rejected have a known outcome."
        )
    if CalibrationItem.objects.filter(item=item).exists():
        raise ReviewConflictError("This item is already in the calibration set.")
    calibration = CalibrationItem.objects.create(
        item=item, expected=expected, added_by=acting_user
    )
    record_event(
        event_type="feedback.calibration_item.added",
        actor=acting_user,
        subject=calibration,
        data={"review_item": item.pk, "expected": expected},
    )
    return calibration


@transaction.atomic
def answer_calibration_item(
    *, calibration_item: CalibrationItem, reviewer: User, verdict: str
) -> CalibrationAnswer:
    """Record `reviewer`'s blind answer once (409 on a second). Records
    `feedback.calibration_item.answered` with whether it agreed."""
    if verdict not in Verdict.values:
        raise ReviewError(f"One of: {', '.join(Verdict.values)}.", field="verdict")
    if not calibration_set().filter(pk=calibration_item.pk).exists():
        raise ReviewConflictError("This item left the calibration set.")
    version = guideline_in_force()
    try:
        with transaction.atomic():
            answer = CalibrationAnswer.objects.create(
                calibration_item=calibration_item,
                reviewer=reviewer,
                verdict=verdict,
                guideline_version=version,
            )
    except IntegrityError:
        raise ReviewConflictError("You already answered this item.") from None
    record_event(
        event_type="feedback.calibration_item.answered",
        actor=reviewer,
        subject=calibration_item,
        data={
            "agreed": verdict == calibration_item.expected,
            "guideline_version": version.number if version else None,
        },
    )
    return answer


def calibration_status(user: User) -> dict[str, Any]:
    """How far `user` is through the set and how often they agreed."""
    active = calibration_set()
    answers = CalibrationAnswer.objects.filter(
        reviewer=user, calibration_item__in=active
    ).select_related("calibration_item")
    agreed = sum(a.verdict == a.calibration_item.expected for a in answers)
    answered = len(answers)
    total = active.count()
    return {
        "reviewer": user.get_username(),
        "total": total,
        "answered": answered,
        "remaining": total - answered,
        "agreed": agreed,
        "agreement": round(agreed / answered, 4) if answered else None,
        "calibrated": answered == total,
    }


def calibration_report() -> list[dict[str, Any]]:
    """Every reviewer who answered calibration items, with their agreement."""
    reviewers = User.objects.filter(
        pk__in=CalibrationAnswer.objects.values("reviewer_id")
    ).order_by("username")
    return [calibration_status(user) for user in reviewers]
