"""Promotion requests: gates, risk-tier approvals with four-eyes, the label move.

Every state change locks the request row first (`select_for_update`), so two
reviewers acting at once are serialised: exactly one of them promotes.
"""

from typing import Any

from django.contrib.auth.models import Permission, User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import record_event
from evaluation.models import EvaluationRun
from governance import decisions, gates, notifications, releases
from governance.exceptions import (
    GovernanceError,
    NotPermittedError,
    SelfApprovalError,
    StaleRequestError,
)
from governance.models import Approval, DecisionLogEntry, PromotionRequest
from governance.tiers import APPROVER_ROLES, missing_roles, rule_for
from registry.content import content_hash
from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion
from registry.services import move_label

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
    """What an approval is bound to: everything a reviewer judged."""
    return content_hash({name: getattr(request, name) for name in HASHED_FIELDS})


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


def refresh_gates(request: PromotionRequest) -> None:
    if request.kind == PromotionRequest.Kind.ROLLBACK:
        request.gates = [
            {
                "name": "rollback_target",
                "passed": True,
                "detail": "the pair served this label before; evaluation gates do "
                "not apply to restoring it",
            }
        ]
        request.gates_passed = True
        return
    snapshot = gates.current_snapshot(request.template)
    champion = gates.champion_run(
        template=request.template, label_name=request.label_name, snapshot=snapshot
    )
    incumbent = Label.objects.filter(
        template=request.template, name=request.label_name
    ).exists()
    assert request.candidate_run is not None  # noqa: S101 (promotions always have one)
    request.champion_run = champion
    request.gates = gates.evaluate_gates(
        candidate=request.candidate_run,
        champion=champion,
        snapshot=snapshot,
        policy=gates.policy_for(request.template),
        has_incumbent=incumbent,
    )
    request.gates_passed = all(gate["passed"] for gate in request.gates)


def check_candidate(
    *,
    template: PromptTemplate,
    prompt_version: PromptVersion,
    model_version: ModelVersion,
    candidate_run: EvaluationRun,
) -> None:
    if prompt_version.template_id != template.pk:
        raise GovernanceError(
            "The prompt version belongs to another template.", field="prompt_version"
        )
    if (candidate_run.prompt_version_id, candidate_run.model_version_id) != (
        prompt_version.pk,
        model_version.pk,
    ):
        raise GovernanceError("The run evaluated another pair.", field="candidate_run")
    if candidate_run.status != EvaluationRun.Status.SUCCEEDED:
        raise GovernanceError(
            "Only a succeeded run supports a promotion.", field="candidate_run"
        )


def _guard_no_pending(template: PromptTemplate, label_name: str) -> None:
    pending = PromotionRequest.objects.filter(
        template=template, label_name=label_name, status=PromotionRequest.Status.PENDING
    ).first()
    if pending is not None:
        raise StaleRequestError(
            f"Request #{pending.pk} for {template.name}:{label_name} is pending; "
            "withdraw or decide it first."
        )


@transaction.atomic
def create_request(
    *,
    kind: str,
    template: PromptTemplate,
    label_name: str,
    prompt_version: PromptVersion,
    model_version: ModelVersion,
    candidate_run: EvaluationRun | None,
    rationale: str,
    requested_by: User | None,
    decision: DecisionLogEntry,
) -> PromotionRequest:
    """Store a request, compute its gates and hash, promote a tier-1 pass at once.

    Shared by `request_promotion` and `rollbacks.request_rollback`; records
    `governance.promotion_request.created` and mails the approvers it needs.
    """
    _guard_no_pending(template, label_name)
    request = PromotionRequest(
        kind=kind,
        template=template,
        label_name=label_name,
        prompt_version=prompt_version,
        model_version=model_version,
        candidate_run=candidate_run,
        decision=decision,
        # The stored tier, not a possibly stale in-memory template.
        tier=rule_for(
            PromptTemplate.objects.values_list("risk_tier", flat=True).get(
                pk=template.pk
            )
        ).tier,
        rationale=rationale.strip(),
        requested_by=requested_by,
    )
    refresh_gates(request)
    request.content_hash = request_hash(request)
    request.save()
    record_event(
        event_type="governance.promotion_request.created",
        actor=requested_by,
        subject=request,
        reason=request.rationale,
        data={
            "kind": kind,
            "tier": request.tier,
            "gates_passed": request.gates_passed,
            "pair": [prompt_version.pk, model_version.pk],
        },
    )
    if rule_for(request.tier).automatic and request.gates_passed:
        promote(request, acting_user=None)
    else:
        notifications.notify_on_commit(request)
    return request


@transaction.atomic
def request_promotion(
    *,
    template: PromptTemplate,
    prompt_version: PromptVersion,
    model_version: ModelVersion,
    candidate_run: EvaluationRun,
    rationale: str,
    requested_by: User | None,
    label_name: str = Label.Name.PRODUCTION,
    decision: DecisionLogEntry | None = None,
) -> PromotionRequest:
    """Ask to point `label_name` at the pair `candidate_run` evaluated.

    `requested_by=None` is the system (the retraining cycle). Without `decision`
    a `retrain` decision is logged for it. Tier 1 with every gate passing
    promotes immediately; otherwise the request waits for its approvers.
    """
    if label_name not in Label.Name.values:
        raise GovernanceError(f"Unknown label {label_name!r}.", field="label_name")
    if not rationale.strip():
        raise GovernanceError("A request needs a rationale.", field="rationale")
    check_candidate(
        template=template,
        prompt_version=prompt_version,
        model_version=model_version,
        candidate_run=candidate_run,
    )
    if decision is None:
        decision = decisions.open_decision(
            template=template,
            decision=DecisionLogEntry.Decision.RETRAIN,
            rationale=f"Promotion requested: {rationale.strip()}",
            acting_user=requested_by,
            prompt_version=prompt_version,
            model_version=model_version,
        )
    elif decision.template_id != template.pk or decision.kind != "decision":
        raise GovernanceError(
            "The decision belongs to another template or is an outcome.",
            field="decision",
        )
    return create_request(
        kind=PromotionRequest.Kind.PROMOTION,
        template=template,
        label_name=label_name,
        prompt_version=prompt_version,
        model_version=model_version,
        candidate_run=candidate_run,
        rationale=rationale,
        requested_by=requested_by,
        decision=decision,
    )


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


def promote(request: PromotionRequest, *, acting_user: User | None) -> None:
    """Move the label, close the request, log the deployment, write release notes."""
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
