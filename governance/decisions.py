"""Writes and reads of the retraining decision log (entries go through the chain)."""

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from audit.services import record_event
from governance import chain
from governance.exceptions import GovernanceError
from governance.models import DecisionLogEntry, TriggerEvent
from registry.models import ModelVersion, PromptTemplate, PromptVersion

Actor = User | AnonymousUser | None


def _user(actor: Actor) -> User | None:
    return actor if actor is not None and actor.is_authenticated else None


def approver_names(approvers: list[dict[str, str]]) -> str:
    """The comma-wrapped username list stored for filtering (`,ana,lee,`)."""
    names = [a["username"] for a in approvers]
    return f",{','.join(names)}," if names else ""


@transaction.atomic
def open_decision(
    *,
    template: PromptTemplate,
    decision: str,
    rationale: str,
    acting_user: Actor,
    trigger: TriggerEvent | None = None,
    data_snapshot_ref: str = "",
    data_snapshot_hash: str = "",
    prompt_version: PromptVersion | None = None,
    model_version: ModelVersion | None = None,
    evaluation_summary: dict[str, Any] | None = None,
    approvers: list[dict[str, str]] | None = None,
    deployed_at: datetime | None = None,
) -> DecisionLogEntry:
    """Append a decision (retrain/defer/investigate/halt/rollback/resume).

    Anyone the caller authorised; `acting_user=None` means the system decided.
    Records `governance.decision.logged`. Not idempotent: each call is a decision.
    """
    if decision not in DecisionLogEntry.Decision.values:
        raise GovernanceError(f"Unknown decision {decision!r}.", field="decision")
    if not rationale.strip():
        raise GovernanceError("A decision needs a rationale.", field="rationale")
    if trigger is not None and trigger.template_id != template.pk:
        raise GovernanceError(
            "The trigger belongs to another template.", field="trigger"
        )
    if prompt_version is not None and prompt_version.template_id != template.pk:
        raise GovernanceError(
            "The prompt version belongs to another template.", field="prompt_version"
        )
    approvers = approvers or []
    entry = chain.append_entry(
        kind=DecisionLogEntry.Kind.DECISION,
        template=template,
        decided_at=timezone.now(),
        decided_by=_user(acting_user),
        decision=decision,
        trigger=trigger,
        rationale=rationale.strip(),
        data_snapshot_ref=data_snapshot_ref,
        data_snapshot_hash=data_snapshot_hash,
        prompt_version=prompt_version,
        model_version=model_version,
        evaluation_summary=evaluation_summary or {},
        approvers=approvers,
        approver_names=approver_names(approvers),
        deployed_at=deployed_at,
    )
    record_event(
        event_type="governance.decision.logged",
        actor=acting_user,
        subject=entry,
        reason=entry.rationale,
        data={"sequence": entry.sequence, "decision": decision},
    )
    return entry


@transaction.atomic
def record_outcome(
    *,
    decision: DecisionLogEntry,
    outcome: str,
    rationale: str,
    acting_user: Actor,
    prompt_version: PromptVersion | None = None,
    model_version: ModelVersion | None = None,
    evaluation_summary: dict[str, Any] | None = None,
    approvers: list[dict[str, str]] | None = None,
    deployed_at: datetime | None = None,
) -> DecisionLogEntry:
    """Append what became of a decision (deployed, rejected, withdrawn).

    Called by promotions in the transaction that moves the label, so the
    deployment date is exactly when the promotion took effect.
    """
    if decision.kind != DecisionLogEntry.Kind.DECISION:
        raise GovernanceError("Only a decision can have an outcome.", field="decision")
    approvers = approvers or []
    return chain.append_entry(
        kind=DecisionLogEntry.Kind.OUTCOME,
        amends=decision,
        template_id=decision.template_id,
        decided_at=timezone.now(),
        decided_by=_user(acting_user),
        outcome=outcome,
        rationale=rationale,
        data_snapshot_ref=decision.data_snapshot_ref,
        data_snapshot_hash=decision.data_snapshot_hash,
        prompt_version=prompt_version,
        model_version=model_version,
        evaluation_summary=evaluation_summary or {},
        approvers=approvers,
        approver_names=approver_names(approvers),
        deployed_at=deployed_at,
    )


def list_decision_log() -> QuerySet[DecisionLogEntry]:
    """Every entry with what list, detail and export render, in one query.

    `effective_deployed_at` is the entry's own deployment date or, for a
    decision, the date its deployment outcome recorded.
    """
    deployed = DecisionLogEntry.objects.filter(
        amends=OuterRef("pk"), outcome=DecisionLogEntry.Outcome.DEPLOYED
    ).values("deployed_at")[:1]
    return DecisionLogEntry.objects.select_related(
        "template",
        "decided_by",
        "trigger",
        "prompt_version",
        "model_version",
        "amends",
    ).annotate(deployment_at=Subquery(deployed))
