"""Risk-tier approvals with four-eyes, rejections, and the label move they cause.

Every state change locks the request row first (`select_for_update`), so two
reviewers acting at once are serialised: exactly one of them promotes.
"""

from typing import Any

from django.contrib.auth.models import Permission, User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import record_event
from governance import decisions, gates, releases
from governance.exceptions import (
    GovernanceError,
    NotPermittedError,
    SelfApprovalError,
    StaleRequestError,
)
from governance.models import Approval, DecisionLogEntry, PromotionRequest
from governance.tiers import APPROVER_ROLES, missing_roles, rule_for
from registry.models import Label
from registry.services import move_label


def roles_of(user: User) -> set[str]:
    """The approver roles (groups) a person holds; superuser status is no role."""
    return set(user.groups.values_list("name", flat=True)) & APPROVER_ROLES


def has_explicit_permission(user: User, codename: str) -> bool:
    """A permission granted to the user or a group, not implied by superuser."""
    return Permission.objects.filter(
        Q(user=user) | Q(group__user=user),
        content_type__app_label="governance",
        codename=codename,
    ).exists()


def lock_open_request(
    request: PromotionRequest, seen_hash: str | None
) -> PromotionRequest:
    locked = PromotionRequest.objects.select_for_update().get(pk=request.pk)
    if locked.status != PromotionRequest.Status.PENDING:
        raise StaleRequestError(f"Request #{locked.pk} is already {locked.status}.")
    if seen_hash is not None and seen_hash != locked.content_hash:
        raise StaleRequestError(
            "The request changed since you viewed it; review it again.",
            field="content_hash",
        )
    return locked


def guard_four_eyes(request: PromotionRequest, user: User) -> None:
    if request.requested_by_id is not None and request.requested_by_id == user.pk:
        raise SelfApprovalError(
            "Four-eyes: the requester cannot approve, reject or override their own "
            "request."
        )


def valid_approvals(request: PromotionRequest) -> list[Approval]:
    """Approvals given to the request's current content (the others are void)."""
    return list(
        request.approvals.filter(
            content_hash=request.content_hash, verdict=Approval.Verdict.APPROVE
        ).select_related("approver")
    )


@transaction.atomic
def approve_promotion(
    *,
    request: PromotionRequest,
    approver: User,
    comment: str = "",
    role: str | None = None,
    seen_hash: str | None = None,
) -> PromotionRequest:
    """Record an approval; the one that completes the tier's quorum promotes.

    Refused for the requester (superusers too), for a person without a role the
    tier still needs, twice by one person, while a gate fails without override,
    and when `seen_hash` (what the reviewer saw) is no longer current.
    """
    request = lock_open_request(request, seen_hash)
    guard_four_eyes(request, approver)
    if not request.gates_passed and not request.override_reason:
        failed = [g["name"] for g in request.gates if not g["passed"]]
        raise GovernanceError(
            f"Gates fail ({', '.join(failed)}); an override with a reason is needed "
            "before approval."
        )
    rule = rule_for(request.tier)
    approvals = valid_approvals(request)
    if any(a.approver_id == approver.pk for a in approvals):
        raise StaleRequestError("You already approved this version of the request.")
    needed = missing_roles(rule, [a.role for a in approvals])
    usable = [r for r in needed if r in roles_of(approver)]
    if role is not None:
        usable = [r for r in usable if r == role]
    if not usable:
        raise NotPermittedError(
            f"This request still needs {', '.join(needed) or 'no approval'}; you "
            "hold none of those roles."
        )
    Approval.objects.create(
        request=request,
        approver=approver,
        role=usable[0],
        verdict=Approval.Verdict.APPROVE,
        comment=comment,
        content_hash=request.content_hash,
    )
    record_event(
        event_type="governance.promotion_request.approved",
        actor=approver,
        subject=request,
        reason=comment,
        data={"role": usable[0], "content_hash": request.content_hash},
    )
    if len(needed) == 1:
        promote(request, acting_user=approver)
    return request


@transaction.atomic
def reject_promotion(
    *,
    request: PromotionRequest,
    reviewer: User,
    comment: str,
    seen_hash: str | None = None,
) -> PromotionRequest:
    """Close a request as rejected; any approver role may reject, with a comment.

    Appends a `rejected` outcome to the request's decision.
    """
    request = lock_open_request(request, seen_hash)
    guard_four_eyes(request, reviewer)
    if not comment.strip():
        raise GovernanceError("A rejection needs a comment.", field="comment")
    roles = roles_of(reviewer)
    if not roles:
        raise NotPermittedError("Only ml_lead, ai_safety or product may reject.")
    Approval.objects.create(
        request=request,
        approver=reviewer,
        role=sorted(roles)[0],
        verdict=Approval.Verdict.REJECT,
        comment=comment,
        content_hash=request.content_hash,
    )
    close_request(request, PromotionRequest.Status.REJECTED)
    decisions.record_outcome(
        decision=request.decision,
        outcome=DecisionLogEntry.Outcome.REJECTED,
        rationale=comment.strip(),
        acting_user=reviewer,
        approvers=[{"username": reviewer.get_username(), "role": sorted(roles)[0]}],
    )
    record_event(
        event_type="governance.promotion_request.rejected",
        actor=reviewer,
        subject=request,
        reason=comment,
    )
    return request


def close_request(request: PromotionRequest, status: str) -> None:
    request.status = status
    request.closed_at = timezone.now()
    request.save(update_fields=["status", "closed_at", "updated_at"])


@transaction.atomic
def promote(request: PromotionRequest, *, acting_user: User | None) -> None:
    """Move the label, close the request, log the deployment, write release notes.

    Atomic: every step lands or none does. Callers hold the request's row lock
    (`lock_open_request`) or just created it.
    """
    previous = Label.objects.filter(
        template=request.template, name=request.label_name
    ).first()
    approvers = [
        {"username": a.approver.get_username(), "role": a.role}
        for a in valid_approvals(request)
    ]
    move_label(
        template=request.template,
        name=request.label_name,
        prompt_version=request.prompt_version,
        model_version=request.model_version,
        reason=f"{request.kind} request #{request.pk}: {request.rationale}",
        acting_user=acting_user,
    )
    close_request(request, PromotionRequest.Status.PROMOTED)
    comparison = gates.compare_runs(request.candidate_run, request.champion_run)
    outcome = decisions.record_outcome(
        decision=request.decision,
        outcome=DecisionLogEntry.Outcome.DEPLOYED,
        rationale=f"{request.kind} request #{request.pk} took effect",
        acting_user=acting_user,
        prompt_version=request.prompt_version,
        model_version=request.model_version,
        evaluation_summary=evaluation_summary(request, comparison),
        approvers=approvers,
        deployed_at=request.closed_at,
    )
    releases.write_release_note(
        request=request,
        outcome=outcome,
        previous=previous,
        comparison=comparison,
        approvers=approvers,
    )
    record_event(
        event_type="governance.promotion_request.promoted",
        actor=acting_user,
        subject=request,
        data={"approvers": approvers, "decision": request.decision.sequence},
    )


def evaluation_summary(
    request: PromotionRequest, comparison: dict[str, Any]
) -> dict[str, Any]:
    """Candidate vs production per segment, as the decision log stores it."""
    return {
        "candidate_run": request.candidate_run_id,
        "champion_run": request.champion_run_id,
        "segments": comparison["segments"],
        "gates": request.gates,
    }
