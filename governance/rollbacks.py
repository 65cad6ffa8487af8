"""Rollback: put a label back on the pair it served before.

Two paths: the governed one is a rollback request that follows the template's
tier rules like any promotion; the incident fast path moves the label at once,
by one ml_lead or ai_safety holder with a reason.
"""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from audit.services import record_event
from governance import approvals, baseline, decisions, promotions, rollout_abort
from governance.exceptions import GovernanceError, NotPermittedError
from governance.models import DecisionLogEntry, PromotionRequest
from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion
from registry.services import move_label

FAST_PATH_ROLES = frozenset({"ml_lead", "ai_safety"})


@dataclass(frozen=True)
class PreviousPair:
    label: Label
    prompt_version: PromptVersion
    model_version: ModelVersion
    served_until: datetime


def previous_pair(*, template: PromptTemplate, label_name: str) -> PreviousPair:
    """The last pair the label served before its current one (label history)."""
    label = Label.objects.filter(template=template, name=label_name).first()
    if label is None:
        raise GovernanceError(
            f"{template.name} has no {label_name} label.", field="label"
        )
    current = (label.prompt_version_id, label.model_version_id)
    for record in label.history.order_by("-history_date", "-history_id"):
        if (record.prompt_version_id, record.model_version_id) != current:
            return PreviousPair(
                label=label,
                prompt_version=PromptVersion.objects.get(pk=record.prompt_version_id),
                model_version=ModelVersion.objects.get(pk=record.model_version_id),
                served_until=record.history_date,
            )
    raise GovernanceError(
        f"{template.name}:{label_name} never served another pair; nothing to roll "
        "back to.",
        field="label",
    )


@transaction.atomic
def request_rollback(
    *,
    template: PromptTemplate,
    reason: str,
    requested_by: User,
    label_name: str = Label.Name.PRODUCTION,
) -> PromotionRequest:
    """Open a governed rollback request to the previous pair (tier rules apply).

    Logs a `rollback` decision and returns the pending request.
    """
    if not reason.strip():
        raise GovernanceError("A rollback needs a reason.", field="reason")
    baseline.guard_not_holdout(label_name, field="label")
    target = previous_pair(template=template, label_name=label_name)
    decision = decisions.open_decision(
        template=template,
        decision=DecisionLogEntry.Decision.ROLLBACK,
        rationale=reason,
        acting_user=requested_by,
        prompt_version=target.prompt_version,
        model_version=target.model_version,
    )
    return promotions.create_request(
        kind=PromotionRequest.Kind.ROLLBACK,
        template=template,
        label_name=label_name,
        prompt_version=target.prompt_version,
        model_version=target.model_version,
        candidate_run=None,
        rationale=reason,
        requested_by=requested_by,
        decision=decision,
    )


@transaction.atomic
def rollback_label(
    *,
    template: PromptTemplate,
    reason: str,
    acting_user: User,
    label_name: str = Label.Name.PRODUCTION,
) -> Label:
    """Incident fast path: move the label back now; the actor is the approver.

    Needs `governance.rollback_label` and the ml_lead or ai_safety role. Logs a
    `rollback` decision already deployed, and `governance.label.rolled_back`.
    A rollback of production ends the template's open rollout (aborted, naming
    this rollback), whose baseline would otherwise be stale.
    """
    roles = approvals.roles_of(acting_user) & FAST_PATH_ROLES
    if not roles or not acting_user.has_perm("governance.rollback_label"):
        raise NotPermittedError("The incident rollback is for ml_lead or ai_safety.")
    if not reason.strip():
        raise GovernanceError("A rollback needs a reason.", field="reason")
    baseline.guard_not_holdout(label_name, field="label")
    target = previous_pair(template=template, label_name=label_name)
    label = Label.objects.select_for_update().get(pk=target.label.pk)
    moved_from = (label.prompt_version_id, label.model_version_id)
    label = move_label(
        template=template,
        name=label_name,
        prompt_version=target.prompt_version,
        model_version=target.model_version,
        reason=f"incident rollback: {reason.strip()}",
        acting_user=acting_user,
        traffic_share=label.traffic_share,
    )
    entry = decisions.open_decision(
        template=template,
        decision=DecisionLogEntry.Decision.ROLLBACK,
        rationale=f"Incident rollback: {reason.strip()}",
        acting_user=acting_user,
        prompt_version=target.prompt_version,
        model_version=target.model_version,
        approvers=[{"username": acting_user.get_username(), "role": sorted(roles)[0]}],
        deployed_at=timezone.now(),
    )
    aborted = None
    if label_name == Label.Name.PRODUCTION:
        aborted = rollout_abort.end_for_rollback(
            template=template,
            production=label,
            acting_user=acting_user,
            reason=f"decision #{entry.sequence}: {reason.strip()}",
        )
    record_event(
        event_type="governance.label.rolled_back",
        actor=acting_user,
        subject=label,
        reason=reason,
        data={
            "from": list(moved_from),
            "to": [target.prompt_version.pk, target.model_version.pk],
            "decision": entry.sequence,
            "fast_path": True,
            "aborted_rollout": aborted.pk if aborted else None,
        },
    )
    return label
