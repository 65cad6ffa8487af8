"""Consent revocations as query vocabulary: who withdrew, and what to leave out.

A person withdraws consent with a revocation or erasure request
(`feedback.privacy`); from its `effective_at` on, everything built from
feedback leaves them out: dataset snapshots, exports, audit sampling, training
exports, replay and the review queue. A person's data is the interactions they
made (`user_pseudonym`) and the feedback they submitted (`submitter_pseudonym`),
with the feedback others gave on their interactions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from feedback.models import Feedback, Interaction, PrivacyRequest, ReviewItem
from feedback.redaction import pseudonymize

WITHDRAWING = (PrivacyRequest.Kind.REVOCATION, PrivacyRequest.Kind.ERASURE)


def subject_pseudonym(user_id: str) -> str:
    """The pseudonym ingestion stores for `user_id` (same key, same function)."""
    return pseudonymize(user_id, key=settings.PSEUDONYM_KEY.encode())


def revoked_pseudonyms(at: datetime | None = None) -> QuerySet[PrivacyRequest, str]:
    """Pseudonyms whose consent is withdrawn at `at` (default now), as a subquery."""
    return (
        PrivacyRequest.objects.filter(
            kind__in=WITHDRAWING, effective_at__lte=at or timezone.now()
        )
        .exclude(subject_pseudonym="")
        .values_list("subject_pseudonym", flat=True)
    )


def consented_interactions(
    interactions: QuerySet[Interaction], at: datetime | None = None
) -> QuerySet[Interaction]:
    """`interactions` without those of people who withdrew consent."""
    return interactions.exclude(user_pseudonym__in=revoked_pseudonyms(at))


def consented_feedback(
    feedback: QuerySet[Feedback], at: datetime | None = None
) -> QuerySet[Feedback]:
    """`feedback` without what withdrawn people submitted or received."""
    revoked = revoked_pseudonyms(at)
    return feedback.exclude(submitter_pseudonym__in=revoked).exclude(
        interaction__user_pseudonym__in=revoked
    )


def revoked_items_filter(at: datetime | None = None) -> Q:
    """Review items of withdrawn people: on their interactions or by them."""
    revoked = revoked_pseudonyms(at)
    return Q(interaction__user_pseudonym__in=revoked) | Q(
        feedback__submitter_pseudonym__in=revoked
    )


def consented_review_items(
    items: QuerySet[ReviewItem], at: datetime | None = None
) -> QuerySet[ReviewItem]:
    """`items` without those of people who withdrew consent."""
    return items.exclude(revoked_items_filter(at))


def is_revoked(item: ReviewItem) -> bool:
    """Whether the person behind `item` withdrew consent."""
    return ReviewItem.objects.filter(revoked_items_filter(), pk=item.pk).exists()


def revoked_interaction_ids(ids: Iterable[str]) -> set[str]:
    """Which of these interaction ids (strings) belong to withdrawn people."""
    wanted = list(ids)
    if not wanted:
        return set()
    found = Interaction.objects.filter(
        pk__in=wanted, user_pseudonym__in=revoked_pseudonyms()
    ).values_list("pk", flat=True)
    return {str(pk) for pk in found}


def revoked_feedback_ids(ids: Iterable[str]) -> set[str]:
    """Which of these feedback ids (strings) withdrawn people submitted or received."""
    wanted = list(ids)
    if not wanted:
        return set()
    revoked = revoked_pseudonyms()
    found = (
        Feedback.objects.filter(pk__in=wanted)
        .filter(
            Q(submitter_pseudonym__in=revoked)
            | Q(interaction__user_pseudonym__in=revoked)
        )
        .values_list("pk", flat=True)
    )
    return {str(pk) for pk in found}
