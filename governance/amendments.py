"""Changes to a pending request: override a failed gate, edit, withdraw.

Any change recomputes the request's content hash, which voids the approvals
given to the earlier content.
"""

from django.contrib.auth.models import User
from django.db import transaction

from audit.services import record_event
from evaluation.models import EvaluationRun
from governance import approvals, decisions, model_cards, notifications, promotions
from governance.exceptions import GovernanceError, NotPermittedError
from governance.models import DecisionLogEntry, PromotionRequest
from governance.tiers import rule_for
from registry.models import ModelVersion, PromptVersion


def _rehash(request: PromotionRequest) -> int:
    """Store the new hash; return how many approvals it voided."""
    old = request.content_hash
    request.content_hash = promotions.request_hash(request)
    if request.content_hash == old:
        return 0
    return request.approvals.filter(content_hash=old).count()


@transaction.atomic
def override_gates(
    *,
    request: PromotionRequest,
    acting_user: User,
    reason: str,
    seen_hash: str | None = None,
) -> PromotionRequest:
    """Let a request with failed gates proceed, on record, with a reason.

    Only for people explicitly granted `governance.override_gate` (superuser
    status alone does not count), never the requester. On an automatic tier the
    override promotes at once; otherwise the tier's approvals are still needed.
    Records `governance.promotion_request.gate_overridden`.
    """
    request = approvals.lock_open_request(request, seen_hash)
    approvals.guard_four_eyes(request, acting_user)
    if not approvals.has_explicit_permission(acting_user, "override_gate"):
        raise NotPermittedError("Overriding a gate needs the override_gate permission.")
    if not reason.strip():
        raise GovernanceError("An override needs a reason.", field="reason")
    failed = [g["name"] for g in request.gates if not g["passed"]]
    if not failed:
        raise GovernanceError("Every gate passes; there is nothing to override.")
    request.override_reason = reason.strip()
    request.override_by = acting_user
    voided = _rehash(request)
    request.save(
        update_fields=["override_reason", "override_by", "content_hash", "updated_at"]
    )
    record_event(
        event_type="governance.promotion_request.gate_overridden",
        actor=acting_user,
        subject=request,
        reason=request.override_reason,
        data={"failed_gates": failed, "voided_approvals": voided},
    )
    if rule_for(request.tier).automatic:
        approvals.promote(request, acting_user=acting_user)
    else:
        model_cards.write_card(request)
    return request


@transaction.atomic
def edit_promotion_request(
    *,
    request: PromotionRequest,
    acting_user: User,
    rationale: str | None = None,
    candidate_run: EvaluationRun | None = None,
    prompt_version: PromptVersion | None = None,
    model_version: ModelVersion | None = None,
) -> PromotionRequest:
    """Change a pending promotion; gates are recomputed and approvals voided.

    A gate override and a risk assessment do not carry over to changed
    content. Records
    `governance.promotion_request.edited` with the number of voided approvals.
    """
    request = approvals.lock_open_request(request, None)
    if request.kind != PromotionRequest.Kind.PROMOTION:
        raise GovernanceError("Only promotion requests can be edited.")
    if rationale is not None:
        if not rationale.strip():
            raise GovernanceError("A request needs a rationale.", field="rationale")
        request.rationale = rationale.strip()
    request.prompt_version = prompt_version or request.prompt_version
    request.model_version = model_version or request.model_version
    request.candidate_run = candidate_run or request.candidate_run
    promotions.check_candidate(
        template=request.template,
        prompt_version=request.prompt_version,
        model_version=request.model_version,
        candidate_run=request.candidate_run,  # type: ignore[arg-type]
    )
    promotions.refresh_gates(request)
    request.override_reason, request.override_by = "", None
    # A risk assessment judged the earlier content; tier 3 needs a new one.
    request.risk_assessment_hash = ""
    voided = _rehash(request)
    request.save()
    record_event(
        event_type="governance.promotion_request.edited",
        actor=acting_user,
        subject=request,
        data={"voided_approvals": voided, "content_hash": request.content_hash},
    )
    model_cards.write_card(request)
    notifications.notify_on_commit(request)
    return request


@transaction.atomic
def withdraw_promotion_request(
    *, request: PromotionRequest, acting_user: User, reason: str
) -> PromotionRequest:
    """Close a pending request without a verdict; appends a `withdrawn` outcome."""
    request = approvals.lock_open_request(request, None)
    if not reason.strip():
        raise GovernanceError("A withdrawal needs a reason.", field="reason")
    approvals.close_request(request, PromotionRequest.Status.WITHDRAWN)
    card = model_cards.write_card(request, final=True)
    decisions.record_outcome(
        decision=request.decision,
        outcome=DecisionLogEntry.Outcome.WITHDRAWN,
        rationale=reason.strip(),
        acting_user=acting_user,
        evaluation_summary={"model_card": model_cards.card_ref(card)},
    )
    record_event(
        event_type="governance.promotion_request.withdrawn",
        actor=acting_user,
        subject=request,
        reason=reason,
    )
    return request
