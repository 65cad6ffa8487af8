"""Dataset snapshots of the retraining cycle: collect, validate, export.

Collect freezes the approved corrections of one window (review items approved
in it) and the window's feedback statistics into a `DatasetSnapshot` with a
manifest. Only terminal or append-only facts enter it (approved and rejected
items, interactions and feedback by the time the server received them), so the
same window always yields the same rows and the same hash.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet

from audit.services import record_event
from evaluation.models import GoldenExample
from evaluation.spider import hardness
from feedback.consent import (
    consented_feedback,
    consented_interactions,
    consented_review_items,
)
from feedback.models import Feedback, Interaction, ReviewItem
from feedback.selectors import wrong_answer_feedback
from governance.cycle.models import (
    DatasetSnapshot,
    RetrainingCycle,
)
from governance.models import DecisionLogEntry
from registry.content import content_hash
from registry.models import Label, PromptTemplate

SCHEMA_VERSION = 1


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


@lru_cache(maxsize=1)
def code_version() -> str:
    """The git commit of the working tree when there is one, else the package's."""
    git = Path(settings.BASE_DIR) / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head.removeprefix("ref: ")
        loose = git / ref
        if loose.is_file():
            return loose.read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(f" {ref}"):
                return line.split()[0]
    except OSError:
        pass
    try:
        return f"loopgate {metadata.version('loopgate')}"
    except metadata.PackageNotFoundError:
        return "unknown"


def baseline_window_start(template: PromptTemplate) -> datetime | None:
    """Where the next window starts: the end of the data production was built from.

    That is the window end of the `retrain` cycle whose challenger pair the
    production label serves. Data of cycles that were deferred or whose
    promotion was rejected is carried into the next window; None (from the
    start) before any cycle reached production.
    """
    label = Label.objects.filter(template=template, name=Label.Name.PRODUCTION).first()
    if label is None:
        return None
    built = (
        RetrainingCycle.objects.filter(
            template=template,
            challenger_prompt_id=label.prompt_version_id,
            challenger_model_id=label.model_version_id,
            decision__decision=DecisionLogEntry.Decision.RETRAIN,
            dataset__isnull=False,
        )
        .select_related("dataset")
        .order_by("-started_at", "-id")
        .first()
    )
    return built.dataset.window_end if built is not None and built.dataset else None


def approved_corrections(
    *, template: PromptTemplate, start: datetime | None, end: datetime
) -> QuerySet[ReviewItem]:
    """Review items of the template approved in (start, end], oldest id first.

    A correction whose golden example was retired by `end` is left out: someone
    found it wrong. So are the corrections of people who have withdrawn consent
    by now (on their interactions or written by them), whatever the window.
    """
    items = consented_review_items(
        ReviewItem.objects.filter(
            template=template, state=ReviewItem.State.APPROVED, decided_at__lte=end
        ).exclude(golden_example__retired_at__lte=end)
    )
    if start is not None:
        items = items.filter(decided_at__gt=start)
    return items.select_related("interaction", "feedback").order_by("pk")


def latest_dataset(template: PromptTemplate) -> DatasetSnapshot | None:
    """The template's most recent dataset snapshot."""
    return DatasetSnapshot.objects.filter(template=template).first()


def approvals_after(template: PromptTemplate, moment: datetime) -> int:
    """How many of the template's corrections were approved after `moment`
    (of people who still consent)."""
    return consented_review_items(
        ReviewItem.objects.filter(
            template=template, state=ReviewItem.State.APPROVED, decided_at__gt=moment
        )
    ).count()


def _segment(sql: str, dialect: str) -> str:
    try:
        return hardness(sql, dialect=dialect)
    except ValueError:
        return GoldenExample.Difficulty.UNKNOWN


def _row(item: ReviewItem, dialect: str) -> dict[str, Any]:
    interaction = item.interaction
    return {
        "review_item": item.pk,
        "golden_example": item.golden_example_id,
        "interaction": str(item.interaction_id),
        "feedback": str(item.feedback_id),
        "question": interaction.question,
        "sql": item.approved_sql,
        "segment": _segment(item.approved_sql, dialect),
        "task_type": item.task_type,
        "consent_scope": interaction.consent_scope,
        "approved_at": _iso(item.decided_at),
        "served_pair": [interaction.prompt_version_id, interaction.model_version_id],
    }


def feedback_stats(
    *, template: PromptTemplate, start: datetime | None, end: datetime
) -> dict[str, Any]:
    """Interactions and feedback the server received in (start, end], and the
    corrections rejected in it (only facts that never change afterwards). The
    negative rate counts window interactions with negative feedback received in
    the window. People who have withdrawn consent are left out of every count."""
    window = Q(received_at__lte=end) & (
        Q(received_at__gt=start) if start is not None else Q()
    )
    interactions = consented_interactions(
        Interaction.objects.filter(window, template=template)
    )
    feedback = consented_feedback(
        Feedback.objects.filter(window, interaction__template=template)
    )
    negative = (
        feedback.filter(
            pk__in=wrong_answer_feedback().values("pk"), interaction__in=interactions
        )
        .values("interaction_id")
        .distinct()
        .count()
    )
    total = interactions.count()
    rejected = consented_review_items(
        ReviewItem.objects.filter(
            template=template, state=ReviewItem.State.REJECTED, decided_at__lte=end
        )
    )
    if start is not None:
        rejected = rejected.filter(decided_at__gt=start)
    return {
        "interactions": total,
        "by_outcome": dict(
            interactions.values_list("outcome")
            .annotate(n=Count("pk"))
            .order_by("outcome")
        ),
        "feedback_by_type": dict(
            feedback.values_list("type").annotate(n=Count("pk")).order_by("type")
        ),
        "interactions_with_negative_feedback": negative,
        "negative_rate": round(negative / total, 6) if total else None,
        "corrections_rejected": rejected.count(),
    }


def _hashed_content(
    template: PromptTemplate,
    start: datetime | None,
    end: datetime,
    rows: list[dict[str, Any]],
    stats: dict[str, Any],
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "template": template.name,
        "window": [_iso(start), _iso(end)],
        "rows": rows,
        "feedback": stats,
    }


def _manifest(
    content: dict[str, Any], digest: str, previous: DatasetSnapshot | None
) -> dict[str, Any]:
    rows = content["rows"]
    return {
        "schema_version": SCHEMA_VERSION,
        "template": content["template"],
        "window": {"start": content["window"][0], "end": content["window"][1]},
        "code_version": code_version(),
        "content_hash": digest,
        "counts": {
            "rows": len(rows),
            "by_segment": dict(sorted(Counter(r["segment"] for r in rows).items())),
            "by_consent": dict(
                sorted(Counter(r["consent_scope"] for r in rows).items())
            ),
            "by_task_type": dict(sorted(Counter(r["task_type"] for r in rows).items())),
        },
        "ids": {
            "review_items": [r["review_item"] for r in rows],
            "golden_examples": [r["golden_example"] for r in rows],
            "interactions": [r["interaction"] for r in rows],
        },
        "feedback": content["feedback"],
        "previous": (
            {"id": previous.pk, "content_hash": previous.content_hash}
            if previous is not None
            else None
        ),
        "hash_covers": "schema_version, template, window, rows, feedback",
    }


def build_dataset(
    *,
    template: PromptTemplate,
    window_start: datetime | None,
    window_end: datetime,
    acting_user: User | None,
) -> tuple[DatasetSnapshot, bool]:
    """Freeze the window's approved corrections and feedback statistics.

    Idempotent: the same window over the same stored data hashes the same and
    returns the existing snapshot with `created=False`. Records
    `governance.dataset_snapshot.created` for a new one.
    """
    dialect = template.target_database.dialect
    rows = [
        _row(item, dialect)
        for item in approved_corrections(
            template=template, start=window_start, end=window_end
        )
    ]
    stats = feedback_stats(template=template, start=window_start, end=window_end)
    content = _hashed_content(template, window_start, window_end, rows, stats)
    digest = content_hash(content)
    existing = DatasetSnapshot.objects.filter(
        template=template, content_hash=digest
    ).first()
    if existing is not None:
        return existing, False
    previous = latest_dataset(template)
    try:
        with transaction.atomic():
            dataset = DatasetSnapshot.objects.create(
                template=template,
                content_hash=digest,
                window_start=window_start,
                window_end=window_end,
                code_version=code_version(),
                manifest=_manifest(content, digest, previous),
                rows=rows,
                previous=previous,
                created_by=acting_user,
            )
            record_event(
                event_type="governance.dataset_snapshot.created",
                actor=acting_user,
                subject=dataset,
                data={"rows": len(rows), "hash": digest, "window": content["window"]},
            )
    except IntegrityError:
        # A concurrent cycle froze the same content first: same snapshot.
        return DatasetSnapshot.objects.get(
            template=template, content_hash=digest
        ), False
    return dataset, True
