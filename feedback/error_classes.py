"""Error classes of corrections: classify them, and read them over time.

The classifier is `evaluation.error_taxonomy`; this module feeds it a review
item's generated SQL, the correction and the target's schema, and stores the
result with the item (and, through approval, with its golden example).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.services import record_event
from evaluation.error_taxonomy import CLASSIFIER_VERSION, classify_correction
from evaluation.error_trends import summarize_trend
from evaluation.spider import hardness
from feedback.models import ReviewItem
from registry.models import PromptTemplate
from targets.schema import sqlglot_schema

UNKNOWN_SEGMENT = "unknown"


def classify(item: ReviewItem, sql: str) -> dict[str, Any]:
    """The error taxonomy of `sql` as a correction of the item's generated SQL.

    `segment` is the Spider hardness of the corrected SQL, the segment the
    retraining cycle counts its data by.
    """
    target = item.target_database
    result = classify_correction(
        item.interaction.generated_sql,
        sql,
        dialect=target.dialect,
        schema=sqlglot_schema(target.schema or {}),
    )
    try:
        segment = hardness(sql, dialect=target.dialect)
    except ValueError:
        segment = UNKNOWN_SEGMENT
    return {**result.as_dict(), "segment": segment}


def _sql_of(item: ReviewItem) -> str:
    corrected = item.feedback.corrected_sql if item.feedback is not None else ""
    return item.approved_sql or corrected


@transaction.atomic
def reclassify_review_items(
    *, acting_user: User | None, template: PromptTemplate | None = None
) -> int:
    """Classify every item not yet classified by the current rules; return how
    many changed. Idempotent. Records `feedback.review_item.reclassified` per
    item whose stored version was another (taxonomy drift made visible)."""
    # Audit items carry no correction to classify.
    items = (
        ReviewItem.objects.filter(kind=ReviewItem.Kind.CORRECTION)
        .select_related("interaction", "feedback", "target_database")
        .select_for_update(of=("self",))
    )
    if template is not None:
        items = items.filter(template=template)
    changed = 0
    for item in items.order_by("pk"):
        if item.error_taxonomy.get("version") == CLASSIFIER_VERSION:
            continue
        before = item.error_taxonomy
        item.error_taxonomy = classify(item, _sql_of(item))
        item.save(update_fields=["error_taxonomy"])
        changed += 1
        if before:
            record_event(
                event_type="feedback.review_item.reclassified",
                actor=acting_user,
                subject=item,
                data={
                    "from": {k: before.get(k) for k in ("version", "classes")},
                    "to": {k: item.error_taxonomy[k] for k in ("version", "classes")},
                },
            )
    return changed


def classified_corrections(
    *, template: PromptTemplate, start: datetime, end: datetime
) -> QuerySet[ReviewItem]:
    """The template's classified corrections received in [start, end), not
    rejected (a rejected correction says nothing about the assistant)."""
    return (
        ReviewItem.objects.filter(
            template=template, created_at__gte=start, created_at__lt=end
        )
        .exclude(state=ReviewItem.State.REJECTED)
        .exclude(error_taxonomy={})
        .order_by("created_at", "pk")
    )


def error_class_trend(
    *,
    template: PromptTemplate,
    end: datetime | None = None,
    period_days: int = 7,
    periods: int = 4,
) -> dict[str, Any]:
    """Error classes of the template's corrections over `periods` periods of
    `period_days` ending at `end`: per period (and per segment) the volume by
    class, then per class its volume, shares and stability, and the drift of
    the mix. `classifier_versions` lists the rule versions in the window: more
    than one means part of any drift is a change of rules."""
    end = end or timezone.now()
    span = timedelta(days=period_days)
    start = end - span * periods
    rows = classified_corrections(template=template, start=start, end=end)
    counts: list[Counter[str]] = [Counter() for _ in range(periods)]
    totals = [0] * periods
    segments: dict[str, list[Counter[str]]] = defaultdict(
        lambda: [Counter() for _ in range(periods)]
    )
    versions: Counter[str] = Counter()
    for created_at, taxonomy in rows.values_list("created_at", "error_taxonomy"):
        index = min(int((created_at - start) / span), periods - 1)
        totals[index] += 1
        versions[taxonomy.get("version", "")] += 1
        for name in taxonomy.get("classes", []):
            counts[index][name] += 1
            segments[taxonomy.get("segment", UNKNOWN_SEGMENT)][index][name] += 1
    return {
        "template": template.name,
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "period_days": period_days,
        "classifier_versions": dict(versions),
        "periods": [
            {
                "start": (start + span * i).isoformat(),
                "corrections": totals[i],
                "by_class": dict(sorted(counts[i].items())),
            }
            for i in range(periods)
        ],
        "by_segment": {
            segment: [dict(sorted(c.items())) for c in per_period]
            for segment, per_period in sorted(segments.items())
        },
        **summarize_trend(counts, totals),
    }
