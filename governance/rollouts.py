"""Starting a staged rollout: what an approved production promotion does first.

`approvals.promote` calls `start_rollout` instead of moving production when the
template's rollout policy is staged (the default). The rollout label then serves
the candidate to a sticky share of sessions; `governance.rollout_steps` advances
it stage by stage and moves production only when the last stage passes.
"""

from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from audit.services import record_event
from governance.exceptions import GovernanceError, StaleRequestError
from governance.models import PromotionRequest, Rollout, RolloutPolicy, RolloutStage
from governance.rollout_models import check_stage_list
from registry.models import Label, PromptTemplate
from registry.services import move_label

POLICY_FIELDS = (
    "stages",
    "min_sessions",
    "alpha",
    "latency_tolerance",
    "max_stage_hours",
    "tier3_signoff_for_broad",
)


def rollout_policy_for(template: PromptTemplate) -> RolloutPolicy:
    """The template's rollout policy, or an unsaved one holding the defaults."""
    policy = RolloutPolicy.objects.filter(template=template).first()
    return policy or RolloutPolicy(template=template)


def check_stages(stages: Any) -> list[dict[str, Any]]:
    """The policy's stages normalised, or an error naming `stages`."""
    try:
        return check_stage_list(stages)
    except ValueError as exc:
        raise GovernanceError(str(exc), field="stages") from None


def is_staged(request: PromotionRequest) -> bool:
    """Whether promoting `request` starts a rollout rather than moving the label:
    a promotion (not a rollback) of production, on a staged policy, replacing
    a production pair that exists and differs."""
    if (
        request.kind != PromotionRequest.Kind.PROMOTION
        or request.label_name != Label.Name.PRODUCTION
        or rollout_policy_for(request.template).mode != RolloutPolicy.Mode.STAGED
    ):
        return False
    production = Label.objects.filter(
        template=request.template, name=Label.Name.PRODUCTION
    ).first()
    return production is not None and (
        production.prompt_version_id,
        production.model_version_id,
    ) != (request.prompt_version_id, request.model_version_id)


def share_of(stage: dict[str, Any]) -> Decimal:
    return Decimal(str(stage["share"])).quantize(Decimal("0.0001"))


@transaction.atomic
def start_rollout(*, request: PromotionRequest, acting_user: User | None) -> Rollout:
    """Point the rollout label at the candidate for the first stage's share.

    Called by `approvals.promote` under the request's row lock. Refused (409)
    while another rollout of the template is open. The request becomes
    `rolling`; production is untouched. Records the first stage's entry and
    `governance.rollout.started`.
    """
    template = request.template
    policy = rollout_policy_for(template)
    snapshot = {name: getattr(policy, name) for name in POLICY_FIELDS}
    snapshot["stages"] = check_stages(snapshot["stages"])
    production = Label.objects.select_for_update().get(
        template=template, name=Label.Name.PRODUCTION
    )
    open_rollout = Rollout.objects.filter(
        template=template,
        status__in=[Rollout.Status.ACTIVE, Rollout.Status.AWAITING_SIGNOFF],
    ).first()
    if open_rollout is not None:
        raise StaleRequestError(
            f"Rollout #{open_rollout.pk} of {template.name} is under way; it must "
            "complete or roll back first."
        )
    now = timezone.now()
    first = snapshot["stages"][0]
    move_label(
        template=template,
        name=Label.Name.ROLLOUT,
        prompt_version=request.prompt_version,
        model_version=request.model_version,
        reason=f"rollout of request #{request.pk}: stage {first['name']}",
        acting_user=acting_user,
        traffic_share=share_of(first),
    )
    rollout = Rollout.objects.create(
        request=request,
        template=template,
        prompt_version=request.prompt_version,
        model_version=request.model_version,
        baseline_prompt_version_id=production.prompt_version_id,
        baseline_model_version_id=production.model_version_id,
        policy=snapshot,
        started_at=now,
        stage_started_at=now,
    )
    RolloutStage.objects.create(
        rollout=rollout,
        stage=first["name"],
        share=share_of(first),
        verdict=RolloutStage.Verdict.ENTERED,
        actor=acting_user,
    )
    request.status = PromotionRequest.Status.ROLLING_OUT
    request.save(update_fields=["status", "updated_at"])
    record_event(
        event_type="governance.rollout.started",
        actor=acting_user,
        subject=rollout,
        data={"request": request.pk, "stage": first["name"], "share": first["share"]},
    )
    return rollout
