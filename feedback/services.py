"""The review queue: corrections become golden examples through senior analysts.

States: pending -> claimed -> approved | rejected | adjudication; adjudication ->
approved | rejected, decided by a senior analyst other than the one who claimed
or escalated the item (or gave a blind verdict on it). Two corrections of the
same question (same question hash and target database) whose SQL returns
different results are flagged as a disagreement: the claimer can no longer
approve them, only escalate or reject. Items drawn for double review are not
claimed: two senior analysts give blind verdicts (`feedback.double_review`).
Audit items (sampled answers, `feedback.audits`) are approved when the answer
was right and rejected, optionally with a correction, when it was wrong.

Nobody reviews a correction they submitted; people who withdrew consent leave
the queue; reviewers answer the calibration set before working it. Every
decision records the guidelines in force. Every transition is a per-object
save (history) plus an audit event in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from audit.services import record_event
from evaluation.models import GoldenExample
from evaluation.services import add_golden_example
from feedback import audits
from feedback.calibration import require_calibrated
from feedback.consent import is_revoked
from feedback.error_classes import classify
from feedback.exceptions import ReviewConflictError, ReviewError
from feedback.guidelines import guideline_in_force
from feedback.models import ReviewItem
from feedback.redaction import redact
from feedback.result_digest import ExecutionFailed, execute_on_target, execution_of
from targets.exceptions import GoldUnrunnable
from targets.execution import verify_gold

State = ReviewItem.State


def locked(item: ReviewItem) -> ReviewItem:
    """The item again, row-locked (its own row: audit items have no feedback to
    join, and PostgreSQL cannot lock the nullable side of an outer join)."""
    return (
        ReviewItem.objects.select_for_update(of=("self",))
        .select_related("feedback", "interaction", "template", "target_database")
        .get(pk=item.pk)
    )


def redacted_reason(reason: str, *, required: bool) -> str:
    """The reason stripped and redacted; a 400 on `reason` when required and empty."""
    text = redact(reason.strip()).text
    if required and not text:
        raise ReviewError("A reason is required.", field="reason")
    return text


def audit_transition(
    item: ReviewItem, verb: str, actor: User | None, reason: str = ""
) -> None:
    """Record `feedback.review_item.<verb>` with the guidelines in force."""
    version = item.guideline_version or guideline_in_force()
    record_event(
        event_type=f"feedback.review_item.{verb}",
        actor=actor,
        subject=item,
        reason=reason,
        data={
            "state": item.state,
            "kind": item.kind,
            "feedback": str(item.feedback_id or ""),
            "disagreement": item.disagreement,
            "guideline_version": version.number if version else None,
        },
    )


def require_reviewable(item: ReviewItem, acting_user: User) -> None:
    """Guards of live-queue work: calibrated reviewer, not the correction's
    author, the person behind the item still consenting."""
    require_calibrated(acting_user)
    if item.feedback is not None and item.feedback.submitted_by_id == acting_user.pk:
        raise ReviewError("Nobody reviews a correction they submitted.")
    if is_revoked(item):
        raise ReviewConflictError(
            "The person behind this item withdrew consent; it leaves the queue."
        )


@transaction.atomic
def claim_review_item(*, item: ReviewItem, acting_user: User) -> ReviewItem:
    """Take a pending item; a second claim is refused (409). Records `claimed`."""
    item = locked(item)
    if item.state != State.PENDING:
        raise ReviewConflictError(f"Only pending items can be claimed ({item.state}).")
    if item.double_review:
        raise ReviewConflictError(
            "This item is reviewed blind by two senior analysts: give a verdict "
            "instead of claiming it."
        )
    require_reviewable(item, acting_user)
    item.state, item.claimed_by, item.claimed_at = (
        State.CLAIMED,
        acting_user,
        timezone.now(),
    )
    item.save(update_fields=["state", "claimed_by", "claimed_at"])
    audit_transition(item, "claimed", acting_user)
    return item


def _require_claimer(item: ReviewItem, acting_user: User) -> None:
    if item.claimed_by_id != acting_user.pk:
        raise ReviewError("Only the analyst who claimed this item may do that.")


@transaction.atomic
def release_review_item(*, item: ReviewItem, acting_user: User) -> ReviewItem:
    """Give a claimed item back to the queue (claimer only). Records `released`."""
    item = locked(item)
    if item.state != State.CLAIMED:
        raise ReviewConflictError(f"Only claimed items can be released ({item.state}).")
    _require_claimer(item, acting_user)
    item.state, item.claimed_by, item.claimed_at = State.PENDING, None, None
    item.save(update_fields=["state", "claimed_by", "claimed_at"])
    audit_transition(item, "released", acting_user)
    return item


@transaction.atomic
def escalate_review_item(
    *, item: ReviewItem, acting_user: User, reason: str
) -> ReviewItem:
    """Send a claimed item to adjudication (claimer only). Records `escalated`."""
    reason = redacted_reason(reason, required=True)
    item = locked(item)
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
    audit_transition(item, "escalated", acting_user, reason)
    return item


def _require_decider(item: ReviewItem, acting_user: User) -> None:
    if item.state == State.CLAIMED:
        _require_claimer(item, acting_user)
    elif item.state == State.ADJUDICATION:
        blind = set(item.verdicts.values_list("reviewer_id", flat=True))
        if acting_user.pk in {item.claimed_by_id, item.escalated_by_id, *blind}:
            raise ReviewError(
                "Adjudication needs another senior analyst, not one who claimed, "
                "escalated or reviewed this item."
            )
        require_reviewable(item, acting_user)
    else:
        raise ReviewConflictError(
            f"Claim the item first; {item.state} items cannot be decided."
        )


def _decided(
    item: ReviewItem,
    state: str,
    acting_user: User | None,
    reason: str,
    fields: tuple[str, ...] = (),
) -> ReviewItem:
    item.state, item.decided_by, item.decided_at = state, acting_user, timezone.now()
    item.decision_reason = reason
    item.guideline_version = guideline_in_force()
    item.save(
        update_fields=[
            "state",
            "decided_by",
            "decided_at",
            "decision_reason",
            "guideline_version",
            *fields,
        ]
    )
    audit_transition(item, str(state), acting_user, reason)
    return item


@transaction.atomic
def reject_review_item(
    *, item: ReviewItem, acting_user: User, reason: str, sql: str | None = None
) -> ReviewItem:
    """Reject with a (redacted) reason. Records `rejected`.

    For an audit item this says the answer was wrong: the reason is stored as
    thumbs-down feedback and `sql`, if given, as a correction that enters the
    queue for another reviewer.
    """
    reason = redacted_reason(reason, required=True)
    item = locked(item)
    _require_decider(item, acting_user)
    return reject_decided(item=item, acting_user=acting_user, reason=reason, sql=sql)


def reject_decided(
    *, item: ReviewItem, acting_user: User, reason: str, sql: str | None = None
) -> ReviewItem:
    """Reject a locked item whose guards have passed (double review settles here)."""
    if item.kind == ReviewItem.Kind.AUDIT:
        audits.record_review_result(
            item=item, reviewer=acting_user, right=False, reason=reason, sql=sql
        )
    elif sql:
        raise ReviewError("Only audit items take a correction here.", field="sql")
    return _decided(item, State.REJECTED, acting_user, reason)


@transaction.atomic
def close_review_item(*, item: ReviewItem, reason: str) -> ReviewItem:
    """Reject an open item as the system (consent withdrawn, text erased).

    Records `closed`; a decided item is returned unchanged.
    """
    item = locked(item)
    if not item.is_open:
        return item
    item.state, item.decided_by, item.decided_at = (
        State.REJECTED,
        None,
        timezone.now(),
    )
    item.decision_reason = reason
    item.save(update_fields=["state", "decided_by", "decided_at", "decision_reason"])
    audit_transition(item, "closed", None, reason)
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
    reason = redacted_reason(reason, required=False)
    item = locked(item)
    _require_decider(item, acting_user)
    if item.disagreement and item.state == State.CLAIMED:
        raise ReviewConflictError(
            "Corrections of this question disagree; escalate it to adjudication."
        )
    return approve_decided(item=item, acting_user=acting_user, reason=reason, sql=sql)


def approve_decided(
    *, item: ReviewItem, acting_user: User, reason: str, sql: str | None = None
) -> ReviewItem:
    """Approve a locked item whose guards have passed (double review settles here).

    Raises before writing anything when the SQL does not run or contradicts an
    approved answer, so a caller may catch that and do something else.
    """
    if item.kind == ReviewItem.Kind.AUDIT:
        if sql:
            raise ReviewError(
                "The answer was right: there is nothing to correct.", field="sql"
            )
        audits.record_review_result(
            item=item, reviewer=acting_user, right=True, reason=reason
        )
        return _decided(item, State.APPROVED, acting_user, reason)
    assert item.feedback is not None  # noqa: S101 (a correction item has one)
    final_sql = redact(sql).text.strip() if sql else item.feedback.corrected_sql
    try:
        verified = verify_gold(item.target_database, final_sql)
    except GoldUnrunnable as exc:
        raise ReviewError(redact(exc.message).text, field="sql") from None
    execution = execution_of(verified.result)
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
        verified=verified,
    )
    item.error_taxonomy = taxonomy
    item.approved_sql = final_sql
    item.golden_example = golden
    item.result_digest, item.result_rows = execution.digest, execution.rows
    item.check_status = ReviewItem.Check.EXECUTED
    return _decided(
        item,
        State.APPROVED,
        acting_user,
        reason,
        (
            "approved_sql",
            "golden_example",
            "result_digest",
            "result_rows",
            "check_status",
            "error_taxonomy",
        ),
    )


def check_review_items(*, item_ids: Sequence[int]) -> None:
    """Run unchecked corrections on their targets, then look for disagreements.

    Each is classified by the error taxonomy too. Idempotent: checked items are
    skipped. The system is the actor.
    """
    items = ReviewItem.objects.filter(
        pk__in=list(item_ids),
        check_status=ReviewItem.Check.UNCHECKED,
        kind=ReviewItem.Kind.CORRECTION,
    ).select_related("feedback", "interaction", "target_database")
    groups = set()
    for item in items:
        assert item.feedback is not None  # noqa: S101 (a correction item has one)
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
        audit_transition(
            item, "disagreement_flagged", None, "Results differ for this question."
        )
        flagged += 1
    return flagged
