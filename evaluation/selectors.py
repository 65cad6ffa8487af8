"""Evaluation reads: the one place that shapes golden-set querysets for callers."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import BooleanField, Case, Count, Prefetch, Q, QuerySet, When
from django.utils import timezone

from evaluation.models import (
    GoldenExample,
    GoldenSetSnapshot,
    SnapshotItem,
)


def stale_cutoff(*, now: datetime | None = None) -> datetime:
    """Golden examples created before this instant are stale (GOLDEN_STALE_DAYS)."""
    return (now or timezone.now()) - timedelta(days=settings.GOLDEN_STALE_DAYS)


def _stale_q(cutoff: datetime) -> Q:
    # Retired examples are out of use, so they are never reported as stale.
    return Q(retired_at__isnull=True, created_at__lt=cutoff)


def list_golden_examples(
    *,
    domain: str | None = None,
    difficulty: str | None = None,
    target_database: str | None = None,
    source: str | None = None,
    stale: bool | None = None,
    retired: bool | None = None,
    now: datetime | None = None,
    kind: str | None = None,
) -> QuerySet[GoldenExample]:
    """Golden examples with an `is_stale` annotation and their users joined.

    Every filter is optional; `target_database` is a database name. `stale`
    and `retired` filter on the two lifecycle facts; staleness is measured
    against `now` (default: the current time). One query per page.
    """
    cutoff = stale_cutoff(now=now)
    examples: QuerySet[GoldenExample] = GoldenExample.objects.select_related(
        "target_database", "owner", "approved_by", "retired_by"
    ).annotate(
        is_stale=Case(
            When(_stale_q(cutoff), then=True),
            default=False,
            output_field=BooleanField(),
        )
    )
    exact = {
        "domain": domain,
        "difficulty": difficulty,
        "target_database__name": target_database,
        "source": source,
        "kind": kind,
    }
    examples = examples.filter(**{k: v for k, v in exact.items() if v is not None})
    if stale is not None:
        examples = filter_stale(examples, stale=stale, now=now)
    if retired is not None:
        examples = examples.filter(retired_at__isnull=not retired)
    return examples


def filter_stale(
    examples: QuerySet[GoldenExample], *, stale: bool, now: datetime | None = None
) -> QuerySet[GoldenExample]:
    """Keep only stale (`stale=True`) or only not-stale golden examples."""
    condition = _stale_q(stale_cutoff(now=now))
    return examples.filter(condition) if stale else examples.exclude(condition)


def stale_golden_examples(*, now: datetime | None = None) -> QuerySet[GoldenExample]:
    """Active golden examples older than GOLDEN_STALE_DAYS, oldest first.

    Their owners should re-check them against the current schema and data, and
    retire (and re-add) any whose expected SQL no longer holds.
    """
    return list_golden_examples(stale=True, now=now).order_by("created_at", "id")


@dataclass(frozen=True)
class GoldenSetCounts:
    """How many golden examples are in use, retired and stale."""

    active: int
    retired: int
    stale: int
    stale_days: int


def golden_set_counts(*, now: datetime | None = None) -> GoldenSetCounts:
    """Counts of active, retired and stale golden examples, in one query."""
    counts = GoldenExample.objects.aggregate(
        active=Count("id", filter=Q(retired_at__isnull=True)),
        retired=Count("id", filter=Q(retired_at__isnull=False)),
        stale=Count("id", filter=_stale_q(stale_cutoff(now=now))),
    )
    return GoldenSetCounts(**counts, stale_days=settings.GOLDEN_STALE_DAYS)


def latest_snapshot_for(
    *, target_database_id: int, kind: str = GoldenExample.Kind.REGULAR
) -> GoldenSetSnapshot | None:
    """The newest snapshot (by creation) holding `kind` examples of the database.

    With the default kind this is a template's current golden snapshot: the one
    its cycles, gates and `evaluate --snapshot latest` use; with
    `kind="safety"` it is the template's safety suite. A snapshot of another
    database never is (snapshots never mix kinds).
    """
    return (
        GoldenSetSnapshot.objects.filter(
            items__golden_example__target_database_id=target_database_id,
            items__golden_example__kind=kind,
        )
        .order_by("-created_at", "-id")
        .first()
    )


def list_snapshots() -> QuerySet[GoldenSetSnapshot]:
    """Snapshots, newest first, with their creator joined."""
    return GoldenSetSnapshot.objects.select_related("created_by")


def list_snapshots_with_items() -> QuerySet[GoldenSetSnapshot]:
    """Snapshots with their example ids prefetched (`items`, ordered by example)."""
    return list_snapshots().prefetch_related(
        Prefetch(
            "items",
            queryset=SnapshotItem.objects.only(
                "id", "snapshot_id", "golden_example_id"
            ).order_by("golden_example_id"),
        )
    )
