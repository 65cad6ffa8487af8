"""The review queue: corrections become golden examples through senior analysts.

States: pending -> claimed -> approved | rejected | adjudication; adjudication ->
approved | rejected, decided by a senior analyst other than the one who claimed
or escalated the item. Two corrections of the same question (same question hash
and target database) whose SQL returns different results are flagged as a
disagreement: the claimer can no longer approve them, only escalate or reject.
Every transition is a per-object save (history) plus an audit event in the same
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from audit.services import record_event
from evaluation.models import GoldenExample
from evaluation.services import add_golden_example
from feedback.error_classes import classify
from feedback.exceptions import ReviewConflictError, ReviewError
from feedback.models import ReviewItem
from feedback.redaction import redact
from feedback.result_digest import ExecutionFailed, execute_on_target

State = ReviewItem.State


def _locked(item: ReviewItem) -> ReviewItem:
    return (
        ReviewItem.objects.select_for_update()
        .select_related("feedback", "interaction", "template", "target_database")
        .get(pk=item.pk)
    )


def _reason(reason: str, *, required: bool) -> str:
    text = redact(reason.strip()).text
    if required and not text:
        raise ReviewError("A reason is required.", field="reason")
    return text


def _audit(item: ReviewItem, verb: str, actor: User | None, reason: str = "") -> None:
    record_event(
        event_type=f"feedback.review_item.{verb}",
        actor=actor,
        subject=item,
        reason=reason,
        data={
            "state": item.state,
            "feedback": str(item.feedback_id),
            "disagreement": item.disagreement,
        },
    )


@transaction.atomic
def claim_review_item(*, item: ReviewItem, acting_user: User) -> ReviewItem:
    """Take a pending item; a second claim is refused (409). Records `claimed`."""
    item = _locked(item)
    if item.state != State.PENDING:
        raise ReviewConflictError(f"Only pending items can be claimed ({item.state}).")
    item.state, item.claimed_by, item.claimed_at = (
        State.CLAIMED,
        acting_user,
        timezone.now(),
    )
    item.save(update_fields=["state", "claimed_by", "claimed_at"])
    _audit(item, "claimed", acting_user)
    return item


def _require_claimer(item: ReviewItem, acting_user: User) -> None:
    if item.claimed_by_id != acting_user.pk:
        raise ReviewError("Only the analyst who claimed this item may do that.")


@transaction.atomic
def release_review_item(*, item: ReviewItem, acting_user: User) -> ReviewItem:
    """Give a claimed item back to the queue (claimer only). Records `released`."""
    item = _locked(item)
    if item.state != State.CLAIMED:
        raise ReviewConflictError(f"Only claimed items can be released ({item.state}).")
    _require_claimer(item, acting_user)
    item.state, item.claimed_by, item.claimed_at = State.PENDING, None, None
    item.save(update_fields=["state", "claimed_by", "claimed_at"])
    _audit(item, "released", acting_user)
    return item


@transaction.atomic
def escalate_review_item(
    *, item: ReviewItem, acting_user: User, reason: str
) -> ReviewItem:
    """Send a claimed item to adjudication (claimer only). Records `escalated`."""
    reason = _reason(reason, required=True)
    item = _locked(item)
    if item.state != State.CLAIMED:
        raise ReviewConflictError(f"Claim the item before escalating ({item.state}).")
    _require_claimer(item, acting_user)
    item.state, item.escalated_by, item.escalated_at = (
        State.ADJUDICATION,
        acting_user,
        timezone.now(),
    )
    item.escalation_reason = reason
    item.save(
        update_fields=["state", "escalated_by", "escalated_at", "escalation_reason"]
    )
    _audit(item, "escalated", acting_user, reason)
    return item


def _require_decider(item: ReviewItem, acting_user: User) -> None:
    if item.state == State.CLAIMED:
        _require_claimer(item, acting_user)
    elif item.state == State.ADJUDICATION:
        if acting_user.pk in (item.claimed_by_id, item.escalated_by_id):
            raise ReviewError(
                "Adjudication needs a second senior analyst, not the one who "
                "claimed or escalated this item."
            )
    else:
        raise ReviewConflictError(
            f"Claim the item first; {item.state} items cannot be decided."
        )


@transaction.atomic
def reject_review_item(
    *, item: ReviewItem, acting_user: User, reason: str
) -> ReviewItem:
    """Reject with a (redacted) reason. Records `rejected`."""
    reason = _reason(reason, required=True)
    item = _locked(item)
    _require_decider(item, acting_user)
    item.state, item.decided_by, item.decided_at = (
        State.REJECTED,
        acting_user,
        timezone.now(),
    )
    item.decision_reason = reason
    item.save(update_fields=["state", "decided_by", "decided_at", "decision_reason"])
    _audit(item, "rejected", acting_user, reason)
    return item


def _contradicted_by(item: ReviewItem, digest: str) -> ReviewItem | None:
    return (
        ReviewItem.objects.filter(
            target_database_id=item.target_database_id,
            question_hash=item.question_hash,
            state=State.APPROVED,
        )
        .exclude(result_digest=digest)
        .exclude(pk=item.pk)
        .first()
    )


@transaction.atomic
def approve_review_item(
    *,
    item: ReviewItem,
    acting_user: User,
    reason: str = "",
    sql: str | None = None,
) -> ReviewItem:
    """Approve: the SQL must run on the target; adds a golden example.

    `sql` replaces the submitted correction (redacted first). A flagged
    disagreement is approved only through adjudication. Records `approved` and,
    through evaluation, `evaluation.golden_example.added`.
    """
    reason = _reason(reason, required=False)
    item = _locked(item)
    _require_decider(item, acting_user)
    if item.disagreement and item.state == State.CLAIMED:
        raise ReviewConflictError(
            "Corrections of this question disagree; escalate it to adjudication."
        )
    final_sql = redact(sql).text.strip() if sql else item.feedback.corrected_sql
    try:
        execution = execute_on_target(target=item.target_database, sql=final_sql)
    except ExecutionFailed as exc:
        raise ReviewError(exc.message, field="sql") from None
    other = _contradicted_by(item, execution.digest)
    if other is not None:
        raise ReviewConflictError(
            f"Approved item {other.pk} answers this question differently; "
            "retire its golden example and reject it first."
        )
    taxonomy = classify(item, final_sql)
    golden = add_golden_example(
        target_database=item.target_database,
        question=item.interaction.question,
        sql=final_sql,
        source=GoldenExample.Source.REVIEW,
        acting_user=acting_user,
        domain=item.template.name,
        tags=[f"template:{item.template.name}", f"task_type:{item.task_type}"],
        owner=acting_user,
        source_interaction_id=item.interaction_id,
        source_feedback_id=item.feedback_id,
        approved_by=acting_user,
        error_taxonomy=taxonomy,
    )
    item.error_taxonomy = taxonomy
    item.state, item.decided_by, item.decided_at = (
        State.APPROVED,
        acting_user,
        timezone.now(),
    )
    item.decision_reason, item.approved_sql = reason, final_sql
    item.golden_example = golden
    item.result_digest, item.result_rows = execution.digest, execution.rows
    item.check_status = ReviewItem.Check.EXECUTED
    item.save(
        update_fields=[
            "state",
            "decided_by",
            "decided_at",
            "decision_reason",
            "approved_sql",
            "golden_example",
            "result_digest",
            "result_rows",
            "check_status",
            "error_taxonomy",
        ]
    )
    _audit(item, "approved", acting_user, reason)
    return item


def check_review_items(*, item_ids: Sequence[int]) -> None:
    """Run unchecked corrections on their targets, then look for disagreements.

    Each is classified by the error taxonomy too. Idempotent: checked items are
    skipped. The system is the actor.
    """
    items = ReviewItem.objects.filter(
        pk__in=list(item_ids), check_status=ReviewItem.Check.UNCHECKED
    ).select_related("feedback", "interaction", "target_database")
    groups = set()
    for item in items:
        item.error_taxonomy = classify(item, item.feedback.corrected_sql)
        try:
            execution = execute_on_target(
                target=item.target_database, sql=item.feedback.corrected_sql
            )
        except ExecutionFailed as exc:
            item.check_status, item.check_error = ReviewItem.Check.FAILED, exc.message
        else:
            item.check_status = ReviewItem.Check.EXECUTED
            item.result_digest, item.result_rows = execution.digest, execution.rows
            groups.add((item.target_database_id, item.question_hash))
        item.save(
            update_fields=[
                "check_status",
                "check_error",
                "result_digest",
                "result_rows",
                "error_taxonomy",
            ]
        )
    for target_database_id, question_hash in groups:
        flag_disagreements(
            target_database_id=target_database_id, question_hash=question_hash
        )


@transaction.atomic
def flag_disagreements(*, target_database_id: int, question_hash: str) -> int:
    """Flag every item of a question whose results differ; return how many.

    Records `disagreement_flagged` (system actor) once per newly flagged item.
    """
    group = list(
        ReviewItem.objects.select_for_update().filter(
            target_database_id=target_database_id,
            question_hash=question_hash,
            check_status=ReviewItem.Check.EXECUTED,
        )
    )
    if len({item.result_digest for item in group}) < 2:
        return 0
    flagged = 0
    for item in group:
        if item.disagreement:
            continue
        item.disagreement = True
        item.save(update_fields=["disagreement"])
        _audit(item, "disagreement_flagged", None, "Results differ for this question.")
        flagged += 1
    return flagged
