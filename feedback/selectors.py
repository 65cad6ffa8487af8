"""Feedback reads: the one place that shapes querysets for callers."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import (
    Count,
    F,
    FloatField,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Coalesce, NullIf
from django.utils import timezone

from feedback.events import NEGATIVE_TYPES
from feedback.models import Feedback, Interaction, ReviewItem

SEGMENT_WINDOW = timedelta(days=30)


def list_interactions() -> QuerySet[Interaction]:
    """Interactions with what their rendering needs joined."""
    return Interaction.objects.select_related(
        "template", "prompt_version", "model_version"
    )


def list_feedback() -> QuerySet[Feedback]:
    """Feedback events, newest first."""
    return Feedback.objects.all()


def list_review_queue(*, state: str | None = None) -> QuerySet[ReviewItem]:
    """Review items ranked by expected impact, most valuable first.

    Segment = (template, task type) over the last 30 days. `segment_volume` is
    its interaction count, `negative_rate` the share of those with negative
    feedback (thumbs down, correction, retry, abandon, escalation), and
    `impact` = volume x negative rate x the submitter's trust weight.
    """
    since = timezone.now() - SEGMENT_WINDOW
    segment = Interaction.objects.filter(
        template=OuterRef("template"),
        task_type=OuterRef("task_type"),
        occurred_at__gte=since,
    ).order_by()
    volume = segment.values("template").annotate(n=Count("pk")).values("n")
    negatives = (
        Feedback.objects.filter(
            interaction__template=OuterRef("template"),
            interaction__task_type=OuterRef("task_type"),
            interaction__occurred_at__gte=since,
            type__in=NEGATIVE_TYPES,
        )
        .order_by()
        .values("interaction__template")
        .annotate(n=Count("interaction", distinct=True))
        .values("n")
    )
    queryset = ReviewItem.objects.select_related(
        "interaction",
        "feedback",
        "template",
        "target_database",
        "claimed_by",
        "escalated_by",
        "decided_by",
    ).annotate(
        segment_volume=Coalesce(Subquery(volume), 0),
        segment_negatives=Coalesce(Subquery(negatives), 0),
    )
    queryset = queryset.annotate(
        negative_rate=Coalesce(
            Cast(F("segment_negatives"), FloatField())
            / NullIf(Cast(F("segment_volume"), FloatField()), Value(0.0)),
            Value(0.0),
        ),
    ).annotate(
        impact=Cast(F("segment_volume"), FloatField())
        * F("negative_rate")
        * F("weight")
    )
    if state:
        queryset = queryset.filter(state=state)
    return queryset.order_by("-impact", "created_at", "pk")
