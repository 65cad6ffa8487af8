"""Feedback reads: the one place that shapes querysets for callers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db.models import (
    Case,
    Count,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, NullIf
from django.utils import timezone

from feedback.categories import TOPICS, WRONG_ANSWER
from feedback.consent import consented_review_items
from feedback.events import NEGATIVE_TYPES
from feedback.models import Feedback, FeedbackTopic, Interaction, ReviewItem
from registry.models import PromptTemplate

SEGMENT_WINDOW = timedelta(days=30)


def list_interactions() -> QuerySet[Interaction]:
    """Interactions with what their rendering needs joined."""
    return Interaction.objects.select_related(
        "template", "prompt_version", "model_version"
    )


def list_feedback() -> QuerySet[Feedback]:
    """Feedback events, newest first, with their current category."""
    return Feedback.objects.annotate(current_topic=current_topic())


def current_topic() -> Subquery:
    """The latest category assigned to the outer feedback row (None if none)."""
    return Subquery(
        FeedbackTopic.objects.filter(feedback=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values("topic")[:1]
    )


def wrong_answer_feedback() -> QuerySet[Feedback]:
    """Negative signals that count as a wrong answer: the one definition of
    negative feedback every rate and trigger uses.

    A signal of `NEGATIVE_TYPES` counts unless its current category says it is
    about something else than the SQL being wrong (slow, confusing, a missing
    feature): uncategorized signals (implicit ones, older clients) still count.
    """
    return (
        Feedback.objects.filter(type__in=NEGATIVE_TYPES)
        .annotate(current_topic=current_topic())
        .filter(Q(current_topic__isnull=True) | Q(current_topic=WRONG_ANSWER))
    )


def feedback_topic_counts(
    *,
    template: PromptTemplate | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """Explicit feedback given (`occurred_at`) in [start, end) by current
    category and type.

    `uncategorized` counts explicit feedback without a category;
    `wrong_answer_signals` is what the negative-feedback trigger counts.
    """
    window = Q()
    if start is not None:
        window &= Q(occurred_at__gte=start)
    if end is not None:
        window &= Q(occurred_at__lt=end)
    if template is not None:
        window &= Q(interaction__template=template)
    explicit = Feedback.objects.filter(window, category="explicit").annotate(
        current_topic=current_topic()
    )
    rows = explicit.values_list("current_topic", "type").annotate(n=Count("pk"))
    by_topic: dict[str, dict[str, int]] = {t: {} for t in [*TOPICS, "uncategorized"]}
    for topic, kind, n in rows.order_by():
        by_topic[topic or "uncategorized"][kind] = n
    return {
        "by_topic": {
            topic: {
                "total": sum(types.values()),
                "by_type": dict(sorted(types.items())),
            }
            for topic, types in by_topic.items()
        },
        "wrong_answer_signals": wrong_answer_feedback().filter(window).count(),
        "negative_signals": Feedback.objects.filter(
            window, type__in=NEGATIVE_TYPES
        ).count(),
    }


def segment_stats(*, since: datetime) -> dict[tuple[int, str], tuple[int, int]]:
    """(template id, task type) -> (interactions since `since`, those of them
    with a signal counting as a wrong answer). One grouped query."""
    negative = Q(pk__in=wrong_answer_feedback().values("interaction_id"))
    rows = (
        Interaction.objects.filter(occurred_at__gte=since)
        .order_by()
        .values_list("template_id", "task_type")
        .annotate(volume=Count("pk"), negatives=Count("pk", filter=negative))
    )
    return {(t, task): (volume, negatives) for t, task, volume, negatives in rows}


def list_review_queue(*, state: str | None = None) -> QuerySet[ReviewItem]:
    """Review items ranked by expected impact, most valuable first.

    Segment = (template, task type) over the last 30 days. `segment_volume` is
    its interaction count, `negative_rate` the share of those with negative
    feedback (thumbs down, correction, retry, abandon, escalation), and
    `impact` = volume x negative rate x the submitter's trust weight. Items of
    people who withdrew consent are left out.
    """
    stats = segment_stats(since=timezone.now() - SEGMENT_WINDOW)

    def per_segment(index: int) -> Case:
        return Case(
            *(
                When(template_id=template_id, task_type=task, then=Value(counts[index]))
                for (template_id, task), counts in stats.items()
            ),
            default=Value(0),
            output_field=IntegerField(),
        )

    queryset = (
        consented_review_items(ReviewItem.objects.all())
        .select_related(
            "interaction",
            "feedback",
            "template",
            "target_database",
            "claimed_by",
            "escalated_by",
            "decided_by",
            "guideline_version",
        )
        .annotate(segment_volume=per_segment(0), segment_negatives=per_segment(1))
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


def review_items_claimed_by(*, user: User) -> QuerySet[ReviewItem]:
    """Items `user` claimed and has not decided yet, highest impact first."""
    return list_review_queue(state=ReviewItem.State.CLAIMED).filter(claimed_by=user)


def review_items_to_adjudicate(*, user: User) -> QuerySet[ReviewItem]:
    """Items waiting for adjudication that `user` may decide, by impact.

    Leaves out those `user` claimed, escalated or gave a blind verdict on: the
    review service refuses them an adjudication.
    """
    return (
        list_review_queue(state=ReviewItem.State.ADJUDICATION)
        .exclude(claimed_by=user)
        .exclude(escalated_by=user)
        .exclude(verdicts__reviewer=user)
    )


def negative_feedback_windows(
    *, template: PromptTemplate, end: datetime, window_days: int, windows: int
) -> list[dict[str, Any]]:
    """Interactions and those with negative feedback per window, oldest first.

    Windows are `window_days` long and end at `end`. A negative is an interaction
    with a signal counting as a wrong answer (`wrong_answer_feedback`): a
    complaint categorized as slow or confusing does not count.
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
                "pk",
                filter=Q(feedback__in=wrong_answer_feedback().values("pk")),
                distinct=True,
            ),
        )
        rows.append({"start": start.isoformat(), "end": stop.isoformat(), **counts})
    return rows
