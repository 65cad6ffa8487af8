"""A rollout's life after its start: checks, advances, sign-off, rollback.

`advance_rollouts` (the beat task's service) checks every open rollout, one row
lock at a time: a stage short of sessions waits, a passing stage advances (the
last one moves production through `approvals.deploy`), a failing one rolls back
at once. Tier 3 can require a person's sign-off before the last stage.
"""

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from audit.services import record_event
from evaluation.runs.alerts import deliver
from governance import approvals, decisions, rollout_gates
from governance.exceptions import GovernanceError, NotPermittedError, StaleRequestError
from governance.models import (
    DecisionLogEntry,
    PromotionRequest,
    Rollout,
    RolloutAlert,
    RolloutStage,
)
from governance.rollouts import share_of
from governance.tiers import rule_for
from registry.models import Label, ModelVersion, PromptVersion
from registry.services import move_label

logger = logging.getLogger(__name__)
# Who may sign off the last stage of a tier-3 rollout: a holder of a tier-3 role.
SIGNOFF_ROLES = frozenset(rule_for(3).required_roles)


def advance_rollouts(*, now: datetime | None = None) -> dict[str, str]:
    """Check each open rollout once; returns {rollout id: what happened}.

    Safe to run from two workers at once: each rollout is checked in its own
    transaction under its row lock, and a rollout locked by another worker is
    skipped (`skip_locked`), so a stage is never judged twice.
    """
    done = {}
    ids = Rollout.objects.filter(status=Rollout.Status.ACTIVE).values_list(
        "pk", flat=True
    )
    for pk in list(ids):
        result = check_rollout(rollout_id=pk, now=now)
        if result is not None:
            done[str(pk)] = result
    return done


@transaction.atomic
def check_rollout(*, rollout_id: int, now: datetime | None = None) -> str | None:
    """Judge the current stage of one active rollout (system actor).

    Returns "wait", "advanced", "awaiting_signoff", "completed", "rolled_back",
    or None when the rollout is locked elsewhere or no longer active
    (idempotent: a second delivery finds the new state and does nothing twice).
    """
    rollout = (
        Rollout.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("template", "request")
        .filter(pk=rollout_id, status=Rollout.Status.ACTIVE)
        .first()
    )
    if rollout is None:
        return None
    now = now or timezone.now()
    evidence = rollout_gates.evaluate_stage(rollout=rollout, now=now)
    rollout.last_checked_at = now
    rollout.last_evidence = evidence
    rollout.save(update_fields=["last_checked_at", "last_evidence"])
    if evidence["verdict"] == "fail":
        roll_back(
            rollout=rollout, evidence=evidence, verdict=RolloutStage.Verdict.FAILED
        )
        return "rolled_back"
    if evidence["verdict"] == "wait":
        age = now - rollout.stage_started_at
        if age <= timedelta(hours=rollout.policy["max_stage_hours"]):
            return "wait"
        roll_back(
            rollout=rollout,
            evidence=evidence,
            verdict=RolloutStage.Verdict.INCONCLUSIVE,
        )
        return "rolled_back"
    return _pass_stage(rollout, evidence)


def _record(
    rollout: Rollout,
    verdict: str,
    evidence: dict[str, Any] | None = None,
    actor: User | None = None,
) -> RolloutStage:
    return RolloutStage.objects.create(
        rollout=rollout,
        stage=str(rollout.stage["name"]),
        share=share_of(rollout.stage),
        verdict=verdict,
        evidence=evidence or {},
        actor=actor,
    )


def _pass_stage(rollout: Rollout, evidence: dict[str, Any]) -> str:
    stages = rollout.policy["stages"]
    last = len(stages) - 1
    if rollout.stage_index == last:
        _record(rollout, RolloutStage.Verdict.PASSED, evidence)
        _complete(rollout)
        return "completed"
    needs_signoff = (
        rollout.stage_index + 1 == last
        and rollout.request.tier == 3
        and rollout.policy["tier3_signoff_for_broad"]
    )
    if needs_signoff:
        _record(rollout, RolloutStage.Verdict.AWAITING_SIGNOFF, evidence)
        rollout.status = Rollout.Status.AWAITING_SIGNOFF
        rollout.save(update_fields=["status"])
        record_event(
            event_type="governance.rollout.awaiting_signoff",
            actor=None,
            subject=rollout,
            data={"stage": stages[last]["name"]},
        )
        return "awaiting_signoff"
    _record(rollout, RolloutStage.Verdict.PASSED, evidence)
    _enter(rollout, rollout.stage_index + 1, actor=None)
    return "advanced"


def _enter(rollout: Rollout, index: int, *, actor: User | None) -> None:
    stage = rollout.policy["stages"][index]
    move_label(
        template=rollout.template,
        name=Label.Name.ROLLOUT,
        prompt_version=rollout.prompt_version,
        model_version=rollout.model_version,
        reason=f"rollout #{rollout.pk}: stage {stage['name']}",
        acting_user=actor,
        traffic_share=share_of(stage),
    )
    rollout.stage_index = index
    rollout.stage_started_at = timezone.now()
    rollout.status = Rollout.Status.ACTIVE
    rollout.save(update_fields=["stage_index", "stage_started_at", "status"])
    _record(rollout, RolloutStage.Verdict.ENTERED, actor=actor)
    record_event(
        event_type="governance.rollout.advanced",
        actor=actor,
        subject=rollout,
        data={"stage": stage["name"], "share": stage["share"]},
    )


def _complete(rollout: Rollout) -> None:
    request = rollout.request
    approvals.deploy(request, acting_user=None, via=f" (rollout #{rollout.pk})")
    move_label(
        template=rollout.template,
        name=Label.Name.ROLLOUT,
        prompt_version=rollout.prompt_version,
        model_version=rollout.model_version,
        reason=f"rollout #{rollout.pk} completed: production serves the pair",
        acting_user=None,
        traffic_share=share_of({"share": 0}),
    )
    rollout.status = Rollout.Status.COMPLETED
    rollout.finished_at = timezone.now()
    rollout.save(update_fields=["status", "finished_at"])
    record_event(
        event_type="governance.rollout.completed",
        actor=None,
        subject=rollout,
        data={"request": request.pk},
    )


def roll_back(*, rollout: Rollout, evidence: dict[str, Any], verdict: str) -> Rollout:
    """Take the candidate off the rollout label (share 0, production's pair),
    close the request as reverted, log a `rollback` decision with the evidence
    and an outcome on the request's decision, and alert by mail and webhook.

    Callers hold the rollout's row lock, inside a transaction.
    """
    failed = ", ".join(evidence.get("failed", [])) or "too few sessions in time"
    reason = (
        f"rollout #{rollout.pk} of request #{rollout.request_id} rolled back at "
        f"stage {rollout.stage['name']}: {failed}"
    )
    return stop_rollout(
        rollout=rollout,
        evidence=evidence,
        verdict=verdict,
        status=Rollout.Status.ROLLED_BACK,
        reason=reason,
    )


def stop_rollout(
    *,
    rollout: Rollout,
    evidence: dict[str, Any],
    verdict: str,
    status: str,
    reason: str,
    actor: User | None = None,
    approvers: list[dict[str, str]] | None = None,
    restore_to: tuple[PromptVersion, ModelVersion] | None = None,
) -> Rollout:
    """End a rollout without promoting: the rollout label goes to share 0 on
    `restore_to` (default the baseline production served at the start), the
    request closes as reverted, a `rollback` decision by `actor` (None: the
    system) and a `rolled_back` outcome go into the decision log, and the
    rollback alert is queued for after commit.

    Shared by the automatic rollback and `rollout_abort`; callers hold the
    rollout's row lock, inside a transaction.
    """
    request = rollout.request
    prompt_version, model_version = restore_to or (
        rollout.baseline_prompt_version,
        rollout.baseline_model_version,
    )
    move_label(
        template=rollout.template,
        name=Label.Name.ROLLOUT,
        prompt_version=prompt_version,
        model_version=model_version,
        reason=reason,
        acting_user=actor,
        traffic_share=share_of({"share": 0}),
    )
    _record(rollout, verdict, evidence, actor=actor)
    now = timezone.now()
    rollout.status = status
    rollout.finished_at = now
    rollout.save(update_fields=["status", "finished_at"])
    approvals.close_request(request, PromotionRequest.Status.REVERTED)
    entry = decisions.open_decision(
        template=rollout.template,
        decision=DecisionLogEntry.Decision.ROLLBACK,
        rationale=reason,
        acting_user=actor,
        prompt_version=prompt_version,
        model_version=model_version,
        evaluation_summary={"rollout": rollout.pk, "online": evidence},
        approvers=approvers,
        deployed_at=now,
    )
    decisions.record_outcome(
        decision=request.decision,
        outcome=DecisionLogEntry.Outcome.ROLLED_BACK,
        rationale=reason,
        acting_user=actor,
        evaluation_summary={"rollout": rollout.pk, "rollback_decision": entry.sequence},
    )
    event = f"governance.rollout.{status}"
    record_event(
        event_type=event,
        actor=actor,
        subject=rollout,
        reason=reason,
        data={"verdict": verdict, "failed": evidence.get("failed", [])},
    )
    payload = {"event": event, **_payload(rollout, evidence, entry, reason)}
    alert = RolloutAlert.objects.create(rollout=rollout, payload=payload)
    from governance.tasks import send_rollout_alert  # tasks import this module

    send_rollout_alert.delay_on_commit(alert.pk)  # type: ignore[attr-defined]  # Celery makes Django-app tasks DjangoTask
    return rollout


def _payload(
    rollout: Rollout, evidence: dict[str, Any], entry: DecisionLogEntry, reason: str
) -> dict[str, Any]:
    return {
        "rollout_id": rollout.pk,
        "template": rollout.template.name,
        "request": rollout.request_id,
        "candidate": [rollout.prompt_version_id, rollout.model_version_id],
        "production": [
            rollout.baseline_prompt_version_id,
            rollout.baseline_model_version_id,
        ],
        "stage": rollout.stage["name"],
        "reason": reason,
        "decision": entry.sequence,
        "sessions": evidence.get("sessions"),
        "gates": evidence.get("gates", []),
    }


def _what(payload: dict[str, Any]) -> str:
    if payload.get("event") == "governance.rollout.aborted":
        return "rollout aborted (rolled back)"
    return "rollout rolled back"


def deliver_rollout_alert(*, alert: RolloutAlert) -> bool:
    """Mail and post a rollback alert through the one alert delivery; True
    when nothing is left to send (called by `governance.send_rollout_alert`)."""
    payload = alert.payload

    def mail() -> None:
        send_mail(
            subject=f"[Loopgate] {payload['template']}: {_what(payload)}",
            message=f"{payload['reason']}\n\n{json.dumps(payload, indent=2)}",
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=settings.REGRESSION_ALERT_EMAILS,
        )

    return deliver(record=alert, payload=payload, mail=mail)


@transaction.atomic
def sign_off(*, rollout: Rollout, acting_user: User, comment: str) -> Rollout:
    """A tier-3 role holder lets a rollout enter its last stage.

    Refused (409) unless the rollout awaits sign-off; for anyone without a
    tier-3 role or the `signoff_rollout` permission; four-eyes: never by the
    request's requester or its candidate's author. Records the sign-off stage
    row and `governance.rollout.signed_off`, then enters the last stage.
    """
    locked = (
        Rollout.objects.select_for_update(of=("self",))
        .select_related("request")
        .get(pk=rollout.pk)
    )
    if locked.status != Rollout.Status.AWAITING_SIGNOFF:
        raise StaleRequestError(f"Rollout #{locked.pk} is {locked.status}.")
    approvals.guard_four_eyes(locked.request, acting_user)
    roles = approvals.roles_of(acting_user) & SIGNOFF_ROLES
    if not roles or not acting_user.has_perm("governance.signoff_rollout"):
        raise NotPermittedError(
            f"Signing off needs one of {', '.join(sorted(SIGNOFF_ROLES))}."
        )
    if not comment.strip():
        raise GovernanceError("A sign-off needs a comment.", field="comment")
    locked.signed_off_by = acting_user
    locked.signed_off_at = timezone.now()
    locked.save(update_fields=["signed_off_by", "signed_off_at"])
    _record(
        locked,
        RolloutStage.Verdict.SIGNED_OFF,
        {"comment": comment.strip(), "role": sorted(roles)[0]},
        actor=acting_user,
    )
    record_event(
        event_type="governance.rollout.signed_off",
        actor=acting_user,
        subject=locked,
        reason=comment,
        data={"role": sorted(roles)[0]},
    )
    _enter(locked, locked.stage_index + 1, actor=acting_user)
    return locked
