"""Audit items: a stratified sample of uncorrected traffic enters the review queue.

Errors nobody reported are found only by looking: each day a share
(`AUDIT_SAMPLE_SHARE`) of the interactions nobody flagged (thumbs up or no
feedback at all) is drawn into the queue. The sample is stratified by template,
task type (the segment), tenant and outcome: each non-empty stratum gives
ceil(share x its size) interactions, so a rare stratum is never skipped. Within a
stratum the draw is the keyed hash of the event id (`feedback.draws`): the same
window draws the same items, and a rerun adds none twice (one audit item per
interaction, a unique constraint). Only interactions whose consent allows
improvement, of people who did not withdraw it, are drawn.

A reviewer's result on an audit item is feedback like any other, written through
ingestion with channel `review`: thumbs up (the answer was right) or thumbs down
with the reason, plus an optional correction that enters the queue for another
reviewer.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from audit.services import record_event
from feedback.consent import consented_interactions
from feedback.draws import draw, drawn_for_double_review
from feedback.events import NEGATIVE_TYPES
from feedback.exceptions import ReviewError
from feedback.ingestion import CREATED, ingest_events
from feedback.models import Feedback, Interaction, ReviewItem
from registry.models import PromptTemplate

logger = logging.getLogger(__name__)

# A signal that someone found the answer wrong: such interactions are not
# "uncorrected" and reach the queue through their own feedback.
FLAGGED_TYPES = NEGATIVE_TYPES | {"edited"}
STRATUM = ("template_id", "task_type", "tenant_id", "outcome")


def previous_day(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The UTC day before `now`, as a [start, end) window of `received_at`."""
    today = (now or timezone.now()).astimezone(UTC).date()
    start = datetime.combine(today - timedelta(days=1), time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def uncorrected(start: datetime, end: datetime) -> Any:
    """Interactions received in [start, end) that may be audited."""
    flagged = Feedback.objects.filter(type__in=FLAGGED_TYPES).values("interaction_id")
    interactions = Interaction.objects.filter(
        received_at__gte=start,
        received_at__lt=end,
        consent_scope__in=[
            Interaction.ConsentScope.IMPROVEMENT,
            Interaction.ConsentScope.TRAINING,
        ],
    ).exclude(pk__in=flagged)
    return consented_interactions(interactions)


def _draw_strata(
    rows: list[tuple[Any, ...]], share: float
) -> tuple[dict[tuple[Any, ...], list[Any]], dict[tuple[Any, ...], int]]:
    strata: dict[tuple[Any, ...], list[tuple[float, Any]]] = defaultdict(list)
    for pk, *stratum in rows:
        strata[tuple(stratum)].append((draw("audit", pk), pk))
    chosen: dict[tuple[Any, ...], list[Any]] = {}
    for key, members in strata.items():
        wanted = math.ceil(share * len(members) - 1e-9)
        chosen[key] = [pk for _, pk in sorted(members)[:wanted]]
    return chosen, {key: len(members) for key, members in strata.items()}


@transaction.atomic
def sample_audit_items(
    *, start: datetime, end: datetime, share: float | None = None
) -> dict[str, Any]:
    """Draw the window's stratified audit sample into the queue; return its report.

    Idempotent: the draw depends only on the window's interactions, and those
    already audited are not added again, so a rerun of the same window adds
    nothing. Records `feedback.review_item.sampled` per new
    item (system actor).
    """
    share = settings.AUDIT_SAMPLE_SHARE if share is None else share
    if not 0.0 <= share <= 1.0:
        raise ReviewError("The share is a number from 0 to 1.", field="share")
    rows = list(uncorrected(start, end).values_list("pk", *STRATUM))
    chosen, sizes = _draw_strata(rows, share)
    drawn = [pk for pks in chosen.values() for pk in pks]
    audited = set(
        ReviewItem.objects.filter(
            kind=ReviewItem.Kind.AUDIT, interaction_id__in=drawn
        ).values_list("interaction_id", flat=True)
    )
    picked = [pk for pk in drawn if pk not in audited]
    interactions = Interaction.objects.in_bulk(picked)
    databases = dict(
        PromptTemplate.objects.filter(
            pk__in={i.template_id for i in interactions.values()}
        ).values_list("pk", "target_database_id")
    )
    items = [
        ReviewItem(
            kind=ReviewItem.Kind.AUDIT,
            interaction_id=pk,
            template_id=interactions[pk].template_id,
            target_database_id=databases[interactions[pk].template_id],
            task_type=interactions[pk].task_type,
            question_hash=interactions[pk].question_hash,
            weight=1.0,
            double_review=drawn_for_double_review(f"audit:{pk}"),
        )
        for pk in sorted(picked, key=str)
    ]
    created = bulk_create_with_history(items, ReviewItem) if items else []
    for item in created:
        record_event(
            event_type="feedback.review_item.sampled",
            actor=None,
            subject=item,
            data={"interaction": str(item.interaction_id), "kind": item.kind},
        )
    report = {
        "window": [start.isoformat(), end.isoformat()],
        "share": share,
        "candidates": len(rows),
        "strata": len(sizes),
        "drawn": len(drawn),
        "sampled": len(created),
        "by_stratum": [
            {
                **dict(zip(STRATUM, stratum, strict=True)),
                "candidates": sizes[stratum],
                "drawn": len(chosen[stratum]),
            }
            for stratum in sorted(sizes, key=str)
        ],
    }
    logger.info(
        "audit sample: %d of %d interactions in %d strata",
        len(created),
        len(rows),
        len(sizes),
    )
    return report


def record_review_result(
    *,
    item: ReviewItem,
    reviewer: User,
    right: bool,
    reason: str,
    sql: str | None = None,
) -> None:
    """Store the review of an audit item as feedback on its interaction.

    Called by the review services inside their transaction. A correction must
    parse as one read-only query of the target's dialect (else a 400 on `sql`,
    nothing stored); it becomes a review item like any other.
    """
    now = timezone.now().isoformat()
    common = {
        "kind": "feedback",
        "interaction_id": str(item.interaction_id),
        "submitter_id": reviewer.get_username(),
        "submitter_role": "senior_analyst",
        "occurred_at": now,
    }
    events: list[dict[str, Any]] = []
    if sql:
        events.append(
            {
                **common,
                "event_id": str(uuid.uuid4()),
                "type": "correction",
                "corrected_sql": sql,
            }
        )
    events.append(
        {
            **common,
            "event_id": str(uuid.uuid4()),
            "type": "thumbs_up" if right else "thumbs_down",
            "comment": reason,
        }
    )
    results = ingest_events(events=events, acting_user=reviewer, channel="review")
    for result in results:
        if result.status != CREATED:
            field, messages = next(iter(result.errors.items()), ("sql", ["refused"]))
            name = "sql" if field == "corrected_sql" else field
            raise ReviewError(" ".join(messages), field=name)
