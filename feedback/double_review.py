"""Blind double review: two senior analysts judge an item without seeing each other.

Items drawn at creation (`DOUBLE_REVIEW_SHARE`, `feedback.draws`) are not
claimed. Each of two senior analysts gives a verdict (approve or reject, with a
reason for a rejection); neither sees the other's until both are in. Two equal
verdicts settle the item as if one reviewer had decided it (the second to
answer is the decider; an approval whose SQL no longer runs goes to
adjudication instead); different verdicts send it to adjudication, which a
third senior analyst decides. The verdicts and the final outcome feed the
agreement figures (`feedback.agreement`).
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from config.exceptions import DomainError
from feedback import services
from feedback.exceptions import ReviewConflictError, ReviewError
from feedback.guidelines import guideline_in_force
from feedback.models import ReviewItem
from feedback.quality_models import ReviewVerdict, Verdict

State = ReviewItem.State
DISAGREE = "The blind reviews disagree."


@transaction.atomic
def submit_verdict(
    *, item: ReviewItem, acting_user: User, verdict: str, reason: str = ""
) -> ReviewItem:
    """Record one blind verdict; settle or escalate the item on the second.

    Records `verdict_given`, then `approved`, `rejected` or `escalated`.
    """
    if verdict not in Verdict.values:
        raise ReviewError(f"One of: {', '.join(Verdict.values)}.", field="verdict")
    reason = services.redacted_reason(reason, required=verdict == Verdict.REJECT)
    item = services.locked(item)
    if not item.double_review:
        raise ReviewConflictError("This item has one reviewer: claim it instead.")
    if item.state != State.PENDING:
        raise ReviewConflictError(f"Verdicts are closed ({item.state}).")
    services.require_reviewable(item, acting_user)
    given = list(item.verdicts.order_by("created_at", "pk"))
    if any(v.reviewer_id == acting_user.pk for v in given):
        raise ReviewConflictError("You already gave your verdict on this item.")
    version = guideline_in_force()
    mine = ReviewVerdict.objects.create(
        item=item,
        reviewer=acting_user,
        verdict=verdict,
        reason=reason,
        guideline_version=version,
    )
    services.audit_transition(item, "verdict_given", acting_user, reason)
    if not given:
        return item
    first = given[0]
    if first.verdict != mine.verdict:
        return _to_adjudication(item, DISAGREE)
    if mine.verdict == Verdict.REJECT:
        reasons = f"{first.reason} / {mine.reason}"
        return services.reject_decided(
            item=item, acting_user=acting_user, reason=reasons
        )
    try:
        with transaction.atomic():
            return services.approve_decided(
                item=item, acting_user=acting_user, reason=reason
            )
    except DomainError as exc:
        return _to_adjudication(item, f"Both approved, but: {exc.message}")


def _to_adjudication(item: ReviewItem, reason: str) -> ReviewItem:
    item.state, item.escalated_by, item.escalated_at = (
        State.ADJUDICATION,
        None,
        timezone.now(),
    )
    item.escalation_reason = reason
    item.save(
        update_fields=["state", "escalated_by", "escalated_at", "escalation_reason"]
    )
    services.audit_transition(item, "escalated", None, reason)
    return item
