"""Feedback reads: the one place that shapes querysets for callers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import (
    Count,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Coalesce, NullIf
from django.utils import timezone

from feedback.events import NEGATIVE_TYPES
from feedback.models import Feedback, Interaction, ReviewItem
from registry.models import PromptTemplate

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


def negative_feedback_windows(
    *, template: PromptTemplate, end: datetime, window_days: int, windows: int
) -> list[dict[str, Any]]:
    """Interactions and those with negative feedback per window, oldest first.

    Windows are `window_days` long and end at `end`. A negative is an interaction
    with any signal in `NEGATIVE_TYPES`, the one definition every rate uses.
    """
    span = timedelta(days=window_days)
    rows = []
    for index in range(windows, 0, -1):
        start, stop = end - span * index, end - span * (index - 1)
        counts = Interaction.objects.filter(
            template=template, occurred_at__gte=start, occurred_at__lt=stop
        ).aggregate(
            total=Count("pk", distinct=True),
            negative=Count(
                "pk", filter=Q(feedback__type__in=NEGATIVE_TYPES), distinct=True
            ),
        )
        rows.append({"start": start.isoformat(), "end": stop.isoformat(), **counts})
    return rows
