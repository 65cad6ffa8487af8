"""Promotion requests: open one, compute its gates, tier and content hash.

Approvals, rejections and the label move live in `governance.approvals`.
"""

from django.contrib.auth.models import User
from django.db import transaction

from audit.services import record_event
from evaluation.models import EvaluationRun
from governance import (
    baseline,
    decisions,
    gates,
    model_cards,
    notifications,
    safety_gate,
)
from governance.approvals import promote, request_hash
from governance.exceptions import (
    GovernanceError,
    StaleRequestError,
)
from governance.models import DecisionLogEntry, PromotionRequest
from governance.tiers import BASELINE_MIN_TIER, rule_for
from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion


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
    if request.kind == PromotionRequest.Kind.BASELINE:
        request.gates = [
            {
                "name": "baseline_target",
                "passed": True,
                "detail": "production serves or once served this pair; evaluation "
                "gates do not apply to choosing a baseline",
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
    request.gates.append(
        safety_gate.safety_gate(
            template=request.template,
            label_name=request.label_name,
            candidate=request.candidate_run,
        )
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

    Shared by `request_promotion` and `rollbacks.request_rollback`; writes the
    first model card, records `governance.promotion_request.created` and mails
    the approvers it needs.
    """
    _guard_no_pending(template, label_name)
    # The stored tier, not a possibly stale in-memory template.
    tier = rule_for(
        PromptTemplate.objects.values_list("risk_tier", flat=True).get(pk=template.pk)
    ).tier
    if kind == PromotionRequest.Kind.BASELINE:
        tier = max(tier, BASELINE_MIN_TIER)
    request = PromotionRequest(
        kind=kind,
        template=template,
        label_name=label_name,
        prompt_version=prompt_version,
        model_version=model_version,
        candidate_run=candidate_run,
        decision=decision,
        tier=tier,
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
    model_cards.write_card(request)
    # An underpowered segment drop waits for a person to acknowledge it.
    if (
        rule_for(request.tier).automatic
        and request.gates_passed
        and not gates.underpowered_segments(request.gates)
    ):
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
    baseline.guard_not_holdout(label_name)
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
