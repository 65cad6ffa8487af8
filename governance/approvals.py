"""Risk-tier approvals with four-eyes, rejections, and the label move they cause.

Every state change locks the request row first (`select_for_update`), so two
reviewers acting at once are serialised: exactly one of them promotes.
"""

from typing import Any

from django.contrib.auth.models import Permission, User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.services import is_service_account
from audit.models import AuditEvent
from audit.services import record_event
from governance import (
    baseline,
    decisions,
    gates,
    model_cards,
    releases,
    risk,
    rollouts,
)
from governance.exceptions import (
    GovernanceError,
    NotPermittedError,
    SelfApprovalError,
    StaleRequestError,
)
from governance.models import (
    Approval,
    DecisionLogEntry,
    PromotionRequest,
    RiskAssessment,
)
from governance.summaries import approver_entry, evaluation_summary
from governance.tiers import APPROVER_ROLES, TierRule, missing_roles, rule_for
from registry.content import content_hash
from registry.models import Label
from registry.services import move_label

# Who acknowledges an underpowered drop on a tier that needs no approver.
ACKNOWLEDGING_ROLE = "ml_lead"

HASHED_FIELDS = (
    "kind",
    "template_id",
    "label_name",
    "prompt_version_id",
    "model_version_id",
    "candidate_run_id",
    "champion_run_id",
    "decision_id",
    "tier",
    "gates",
    "rationale",
    "override_reason",
    "override_by_id",
)


def request_hash(request: PromotionRequest) -> str:
    """What an approval is bound to: everything a reviewer judged, the risk
    assessment included once there is one (so revising it voids approvals)."""
    content = {name: getattr(request, name) for name in HASHED_FIELDS}
    if request.risk_assessment_hash:
        content["risk_assessment_hash"] = request.risk_assessment_hash
    return content_hash(content)


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


def contributions_of(request: PromotionRequest, user: User) -> list[str]:
    """How ``user`` shaped the request's content: requested it, edited it, or
    wrote its candidate prompt version. Empty when they did none of these."""
    found = []
    if request.requested_by_id == user.pk:
        found.append("requested it")
    if AuditEvent.objects.filter(
        event_type="governance.promotion_request.edited",
        subject_type=request._meta.label_lower,
        subject_id=str(request.pk),
        actor=user,
    ).exists():
        found.append("edited it")
    if request.prompt_version.author_id == user.pk:
        found.append("wrote its candidate prompt version")
    return found


def guard_four_eyes(request: PromotionRequest, user: User) -> None:
    """Refuse a decision by anyone who contributed the content, or by a service
    account: one person never both chooses and approves what is promoted."""
    contributed = contributions_of(request, user)
    if contributed:
        raise SelfApprovalError(
            "Four-eyes: whoever contributed a request cannot approve, reject or "
            f"override it (you {' and '.join(contributed)})."
        )
    if is_service_account(user):
        raise NotPermittedError("A service account cannot decide on requests.")


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
    risk_assessment: dict[str, Any] | None = None,
    acknowledge_underpowered: bool = False,
) -> PromotionRequest:
    """Record an approval; the one that completes the tier's quorum promotes.

    Refused for the requester (superusers too), for a person without a role the
    tier still needs, twice by one person, while a gate fails without override,
    while a segment drop is underpowered and `acknowledge_underpowered` is not
    set (the approval stores the segments acknowledged), when `seen_hash` (what
    the reviewer saw) is no longer current, and on a tier whose rule requires a
    risk assessment while none is written (every path: API, admin page, admin
    action). `risk_assessment` (answers by field) writes one first, in this
    transaction.
    """
    request = lock_open_request(request, seen_hash)
    guard_four_eyes(request, approver)
    if not request.gates_passed and not request.override_reason:
        failed = [g["name"] for g in request.gates if not g["passed"]]
        raise GovernanceError(
            f"Gates fail ({', '.join(failed)}); an override with a reason is needed "
            "before approval."
        )
    underpowered = gates.underpowered_segments(request.gates)
    if underpowered and not acknowledge_underpowered:
        raise GovernanceError(
            f"Segment drops on too few items to test ({', '.join(underpowered)}) "
            "need an explicit acknowledgement with the approval.",
            field="acknowledge_underpowered",
        )
    rule = rule_for(request.tier)
    if risk_assessment is not None:
        _assess(request, approver, rule, risk_assessment)
        request.save(update_fields=["risk_assessment_hash", "content_hash"])
    guard_risk_assessment(request, rule)
    approvals = valid_approvals(request)
    if any(a.approver_id == approver.pk for a in approvals):
        raise StaleRequestError("You already approved this version of the request.")
    needed = roles_needed(request, rule, approvals)
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
        acknowledged_underpowered=underpowered or None,
    )
    record_event(
        event_type="governance.promotion_request.approved",
        actor=approver,
        subject=request,
        reason=comment,
        data={
            "role": usable[0],
            "content_hash": request.content_hash,
            "acknowledged_underpowered": underpowered,
        },
    )
    if len(needed) == 1:
        promote(request, acting_user=approver)
    else:
        model_cards.write_card(request)
    return request


def roles_needed(
    request: PromotionRequest, rule: TierRule, approvals: list[Approval]
) -> list[str]:
    """Roles still to approve. An automatic tier needs no one, except that an
    underpowered segment drop must be acknowledged by a person: an ml_lead."""
    needed = missing_roles(rule, [a.role for a in approvals])
    if rule.automatic and not approvals and gates.underpowered_segments(request.gates):
        return [ACKNOWLEDGING_ROLE]
    return needed


def guard_risk_assessment(request: PromotionRequest, rule: TierRule) -> None:
    """Refuse while the tier requires a risk assessment and none is written."""
    if rule.risk_assessment == "required" and not request.risk_assessment_hash:
        fields = ", ".join(f["name"] for f in risk.risk_fields(request))
        raise GovernanceError(
            f"Tier {rule.tier} requests cannot be approved without a completed risk "
            f"assessment ({fields}).",
            field="risk_assessment",
        )


def _assess(
    request: PromotionRequest, author: User, rule: TierRule, answers: Any
) -> RiskAssessment:
    if rule.risk_assessment == "none":
        raise GovernanceError(
            f"Tier {rule.tier} requests carry no risk assessment.",
            field="risk_assessment",
        )
    roles = sorted(roles_of(author) & set(rule.required_roles))
    if not roles:
        raise NotPermittedError(
            f"Only {', '.join(rule.required_roles)} may assess this request's risk."
        )
    old = request.content_hash
    row = risk.record_assessment(request, author, roles[0], answers)
    request.content_hash = request_hash(request)
    voided = request.approvals.filter(content_hash=old).count()
    record_event(
        event_type="governance.risk_assessment.completed",
        actor=author,
        subject=request,
        data={
            "assessment": row.pk,
            "content_hash": row.content_hash,
            "voided_approvals": voided,
        },
    )
    return row


@transaction.atomic
def complete_risk_assessment(
    *,
    request: PromotionRequest,
    acting_user: User,
    answers: Any,
    seen_hash: str | None = None,
) -> RiskAssessment:
    """Write (or revise) the request's risk assessment, on record.

    For a person holding a role the tier requires, never the requester, while
    the request is pending; every field the template's policy defines needs an
    answer. A revision changes the request's content hash, voiding approvals
    given to the earlier one. Records `governance.risk_assessment.completed`
    and writes a new model card version.
    """
    request = lock_open_request(request, seen_hash)
    guard_four_eyes(request, acting_user)
    row = _assess(request, acting_user, rule_for(request.tier), answers)
    request.save(update_fields=["risk_assessment_hash", "content_hash", "updated_at"])
    model_cards.write_card(request)
    return row


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
    card = model_cards.write_card(request, final=True)
    decisions.record_outcome(
        decision=request.decision,
        outcome=DecisionLogEntry.Outcome.REJECTED,
        rationale=comment.strip(),
        acting_user=reviewer,
        approvers=[{"username": reviewer.get_username(), "role": sorted(roles)[0]}],
        evaluation_summary={"model_card": model_cards.card_ref(card)},
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
    """Act on an approved request: start a staged rollout when the template's
    rollout policy stages production promotions (`rollouts.is_staged`), else
    `deploy` at once (rollback requests, other labels, "immediate" policies).

    Callers hold the request's row lock (`lock_open_request`) or just created it.
    """
    guard_risk_assessment(request, rule_for(request.tier))
    if rollouts.is_staged(request):
        rollouts.start_rollout(request=request, acting_user=acting_user)
    else:
        deploy(request, acting_user=acting_user)


@transaction.atomic
def deploy(
    request: PromotionRequest, *, acting_user: User | None, via: str = ""
) -> None:
    """Move the label, close the request, write the final model card, log the
    deployment (linking the card) and write release notes.

    Atomic: every step lands or none does. `via` says what completed it (a
    rollout), in the label move's reason and the outcome's rationale.
    """
    previous = Label.objects.filter(
        template=request.template, name=request.label_name
    ).first()
    approvers = [approver_entry(a) for a in valid_approvals(request)]
    reason = f"{request.kind} request #{request.pk}{via}: {request.rationale}"
    # Only an approved baseline change moves the holdout; for any other request
    # on it, move_label refuses and nothing of the promotion lands.
    if request.kind == PromotionRequest.Kind.BASELINE:
        baseline.move_holdout(
            template=request.template,
            prompt_version=request.prompt_version,
            model_version=request.model_version,
            reason=reason,
            acting_user=acting_user,
        )
    else:
        moved = move_label(
            template=request.template,
            name=request.label_name,
            prompt_version=request.prompt_version,
            model_version=request.model_version,
            reason=reason,
            acting_user=acting_user,
        )
        if (
            request.kind == PromotionRequest.Kind.ROLLBACK
            and moved.name == Label.Name.PRODUCTION
        ):
            # Imported here: rollout_abort stands on approvals (via rollout_steps).
            from governance import rollout_abort

            rollout_abort.end_for_rollback(
                template=request.template,
                production=moved,
                acting_user=acting_user,
                reason=request.rationale,
                how=f"by approved rollback request #{request.pk}",
            )
    close_request(request, PromotionRequest.Status.PROMOTED)
    card = model_cards.write_card(request, final=True)
    comparison = gates.compare_runs(request.candidate_run, request.champion_run)
    outcome = decisions.record_outcome(
        decision=request.decision,
        outcome=DecisionLogEntry.Outcome.DEPLOYED,
        rationale=f"{request.kind} request #{request.pk} took effect{via}",
        acting_user=acting_user,
        prompt_version=request.prompt_version,
        model_version=request.model_version,
        evaluation_summary={
            **evaluation_summary(request, comparison),
            "model_card": model_cards.card_ref(card),
        },
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
