"""Privacy requests: consent revocation, erasure and retention, each audited.

A privacy officer files a request with the person's user id as the assistant
sends it; only its keyed pseudonym (the one ingestion stores) is kept.

- Revocation withdraws consent from `effective_at` (now, or when the person
  actually asked; never in the future). In the same transaction the golden
  examples derived from the person's corrections are retired with the reason
  and their open review items are closed; from then on every dataset snapshot,
  export, audit sample, training export and the review queue leave them out
  (`feedback.consent`).
- Erasure does the same, then a task on `PRIVACY_TASK_QUEUE` (a worker running
  as the table owner) overwrites their free text everywhere it went
  (`feedback.erasure`).
- Retention: a daily task erases the free text of events received more than
  `FEEDBACK_TEXT_RETENTION_DAYS` ago, in chunks, each one recorded as a request
  run by the system.

Filing, completion and failure are audit events (`feedback.privacy_request.*`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import record_event
from evaluation.models import GoldenExample
from evaluation.services import retire_golden_example
from feedback import services
from feedback.consent import subject_pseudonym
from feedback.erasure import (
    ERASED,
    ErasureScope,
    erase,
    retention_scope,
    subject_scope,
)
from feedback.exceptions import PrivacyConflictError, PrivacyError
from feedback.models import Feedback, Interaction, PrivacyRequest, ReviewItem
from feedback.redaction import redact

logger = logging.getLogger(__name__)
Kind = PrivacyRequest.Kind
Status = PrivacyRequest.Status
FUTURE_SKEW = timedelta(minutes=5)
RETENTION_CHUNK = 500


def _audit(request: PrivacyRequest, verb: str, actor: User | None, **data: Any) -> None:
    record_event(
        event_type=f"feedback.privacy_request.{verb}",
        actor=actor,
        subject=request,
        reason=request.error if verb == "failed" else "",
        data={"kind": request.kind, "status": request.status, **data},
    )


def check_request(
    *, kind: str, user_id: str, effective_at: datetime | None
) -> datetime:
    """Validate a request's input (PrivacyError names the field); return the
    effective time (default now)."""
    if kind not in (Kind.REVOCATION, Kind.ERASURE):
        raise PrivacyError(f"One of: {Kind.REVOCATION}, {Kind.ERASURE}.", field="kind")
    if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > 200:
        raise PrivacyError("The user id as the assistant sends it.", field="user_id")
    now = timezone.now()
    effective = effective_at or now
    if effective.tzinfo is None:
        raise PrivacyError("Give a time zone (e.g. Z).", field="effective_at")
    if effective > now + FUTURE_SKEW:
        raise PrivacyError(
            "Consent is withdrawn now or was withdrawn earlier; not in the future.",
            field="effective_at",
        )
    return effective


@transaction.atomic
def file_privacy_request(
    *,
    kind: str,
    user_id: str,
    acting_user: User,
    effective_at: datetime | None = None,
    reference: str = "",
) -> PrivacyRequest:
    """File a revocation or erasure (privacy officers) and withdraw consent now.

    Records `filed`, and `completed` for a revocation; an erasure is completed
    by `run_erasure` after commit, on the privacy queue.
    """
    effective = check_request(kind=kind, user_id=user_id, effective_at=effective_at)
    request = PrivacyRequest.objects.create(
        kind=kind,
        subject_pseudonym=subject_pseudonym(user_id),
        effective_at=effective,
        reference=redact(reference.strip()).text[:200],
        requested_by=acting_user,
    )
    _audit(request, "filed", acting_user, effective_at=effective.isoformat())
    request.result = {"revocation": withdraw_consent(request)}
    if kind == Kind.REVOCATION:
        _complete(request, acting_user)
    else:
        request.save(update_fields=["result"])
        from feedback.tasks import run_privacy_request

        run_privacy_request.delay_on_commit(request.pk)  # type: ignore[attr-defined]  # Celery makes Django-app tasks DjangoTask
    return request


def withdraw_consent(request: PrivacyRequest) -> dict[str, Any]:
    """Retire the person's derived golden examples and close their open items."""
    pseudonym = request.subject_pseudonym
    reason = f"Consent withdrawn (privacy request #{request.pk})."
    interactions = Interaction.objects.filter(user_pseudonym=pseudonym)
    feedback = Feedback.objects.filter(
        Q(interaction__user_pseudonym=pseudonym) | Q(submitter_pseudonym=pseudonym)
    )
    goldens = GoldenExample.objects.filter(
        Q(source_interaction_id__in=interactions.values("pk"))
        | Q(source_feedback_id__in=feedback.values("pk")),
        retired_at__isnull=True,
    )
    retired = []
    for example in goldens:
        retire_golden_example(
            example=example, reason=reason, acting_user=request.requested_by
        )
        retired.append(example.pk)
    open_items = ReviewItem.objects.filter(
        Q(interaction__user_pseudonym=pseudonym) | Q(feedback__in=feedback),
        state__in=[
            ReviewItem.State.PENDING,
            ReviewItem.State.CLAIMED,
            ReviewItem.State.ADJUDICATION,
        ],
    )
    closed = []
    for item in open_items:
        services.close_review_item(item=item, reason=reason)
        closed.append(item.pk)
    return {
        "interactions": interactions.count(),
        "feedback": feedback.count(),
        "golden_examples_retired": sorted(retired),
        "review_items_closed": sorted(closed),
    }


def _complete(request: PrivacyRequest, actor: User | None) -> None:
    request.status, request.completed_at = Status.COMPLETED, timezone.now()
    request.error = ""
    request.save(update_fields=["status", "completed_at", "result", "error"])
    _audit(request, "completed", actor, result=summary(request.result))


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """Counts per table for the audit trail (the ids stay on the request)."""
    return {
        key: len(value["ids"]) if isinstance(value, dict) and "ids" in value else value
        for key, value in result.items()
    }


def _fail(request_id: int, error: str) -> None:
    with transaction.atomic():
        request = PrivacyRequest.objects.select_for_update().get(pk=request_id)
        request.status, request.error = Status.FAILED, error[:2000]
        request.save(update_fields=["status", "error"])
        _audit(request, "failed", None)
    logger.error("privacy request %d failed: %s", request_id, error)


def _run(request_id: int, scope_for: Any) -> PrivacyRequest:
    """Erase `scope_for(request)` in one transaction; a database refusal (not
    the table owner) marks the request failed and changes nothing else. A
    failed request may run again."""
    try:
        with transaction.atomic():
            request = PrivacyRequest.objects.select_for_update().get(pk=request_id)
            if request.status != Status.PENDING:
                raise PrivacyConflictError(
                    f"Request #{request_id} is {request.status}."
                )
            scope: ErasureScope = scope_for(request)
            request.result = {**request.result, **erase(scope)}
            _complete(request, None)
            return request
    except DatabaseError as exc:
        _fail(request_id, f"The database refused the erasure: {exc}".strip())
        raise


def run_erasure(*, request_id: int) -> PrivacyRequest:
    """Erase the person's free text everywhere (as the table owner). Idempotent
    through the status: a completed request is a 409, a failed one is retried.
    Records `completed`."""
    return _run(
        request_id,
        lambda r: subject_scope(
            r.subject_pseudonym, f"Erased (privacy request #{r.pk})."
        ),
    )


def retention_cutoff(now: datetime | None = None) -> datetime | None:
    """Events received before this lose their free text; None: kept forever."""
    days = settings.FEEDBACK_TEXT_RETENTION_DAYS
    return (now or timezone.now()) - timedelta(days=days) if days > 0 else None


def _expired(cutoff: datetime) -> tuple[list[Any], list[Any]]:
    interactions = (
        Interaction.objects.filter(received_at__lt=cutoff)
        .exclude(question=ERASED)
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[:RETENTION_CHUNK]
    )
    has_text = ~Q(comment__in=["", ERASED]) | ~Q(corrected_sql__in=["", ERASED])
    feedback = (
        Feedback.objects.filter(has_text, received_at__lt=cutoff)
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[:RETENTION_CHUNK]
    )
    return list(interactions), list(feedback)


def enforce_retention(*, now: datetime | None = None) -> list[PrivacyRequest]:
    """Erase event text past the retention period, one recorded chunk at a time.

    Idempotent: erased events are not selected again. Returns the requests run.
    """
    cutoff = retention_cutoff(now)
    done: list[PrivacyRequest] = []
    while cutoff is not None:
        interaction_ids, feedback_ids = _expired(cutoff)
        if not interaction_ids and not feedback_ids:
            break
        with transaction.atomic():
            request = PrivacyRequest.objects.create(
                kind=Kind.RETENTION, effective_at=cutoff, requested_by=None
            )
            _audit(request, "filed", None, effective_at=cutoff.isoformat())
            reason = f"Retention period passed (privacy request #{request.pk})."
            items = ReviewItem.objects.filter(
                Q(feedback_id__in=feedback_ids) | Q(interaction_id__in=interaction_ids)
            )
            for item in items:
                services.close_review_item(item=item, reason=reason)
        done.append(
            _run(
                request.pk,
                lambda r, i=interaction_ids, f=feedback_ids: retention_scope(
                    i, f, f"Retention period passed (privacy request #{r.pk})."
                ),
            )
        )
    return done
