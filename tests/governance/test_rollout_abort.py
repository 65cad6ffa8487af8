"""Aborting a rollout by hand, and a fast-path rollback ending one."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from pytest_django.fixtures import Settings

from audit.models import AuditEvent
from evaluation.models import EvaluationRun
from governance.chain import verify_chain
from governance.exceptions import GovernanceError, NotPermittedError, StaleRequestError
from governance.models import (
    DecisionLogEntry,
    PromotionRequest,
    Rollout,
    RolloutAlert,
    RolloutPolicy,
    RolloutStage,
)
from governance.rollbacks import request_rollback, rollback_label
from governance.rollout_abort import MAX_REASON, abort_rollout
from governance.rollout_steps import check_rollout
from registry.models import Label
from registry.services import move_label
from tests.evaluation.runs.test_alerts import SECRET, Hook, hook
from tests.governance.run_builders import new_prompt, prompt_author
from tests.governance.test_rollout import (
    candidate,
    champion,
    label,
    policy,
    promote_tier1,
)

pytestmark = pytest.mark.django_db
__all__ = ["candidate", "champion", "hook", "policy"]  # fixtures shared


@pytest.fixture
def rollout(candidate: EvaluationRun, policy: RolloutPolicy, senior: User) -> Rollout:
    return Rollout.objects.get(request=promote_tier1(candidate, senior))


def test_an_ml_lead_aborts_and_traffic_returns_to_the_baseline(
    rollout: Rollout,
    ml_lead: User,
    settings: Settings,
    hook: Hook,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    settings.REGRESSION_ALERT_EMAILS = ["ml-leads@example.com"]
    settings.REGRESSION_ALERT_WEBHOOK_URL = hook.url
    settings.REGRESSION_ALERT_WEBHOOK_SECRET = SECRET
    production_before = label(rollout.template, Label.Name.PRODUCTION)
    assert label(rollout.template, Label.Name.ROLLOUT).prompt_version_id == (
        rollout.prompt_version_id
    )
    with django_capture_on_commit_callbacks(execute=True) as queued:
        abort_rollout(rollout=rollout, acting_user=ml_lead, reason="  pager fired ")
    assert len(queued) == 1
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.ABORTED
    assert rollout.finished_at is not None
    rolling = label(rollout.template, Label.Name.ROLLOUT)
    assert str(rolling.traffic_share) == "0.0000"
    assert (rolling.prompt_version_id, rolling.model_version_id) == (
        rollout.baseline_prompt_version_id,
        rollout.baseline_model_version_id,
    )
    production = label(rollout.template, Label.Name.PRODUCTION)
    assert production.prompt_version_id == production_before.prompt_version_id
    assert production.history.count() == production_before.history.count()
    request = PromotionRequest.objects.get(pk=rollout.request_id)
    assert request.status == PromotionRequest.Status.REVERTED
    stage = rollout.stages.last()
    assert stage is not None
    assert (stage.verdict, stage.actor) == (RolloutStage.Verdict.ABORTED, ml_lead)
    entry = DecisionLogEntry.objects.get(decision="rollback")
    assert entry.decided_by == ml_lead
    assert "pager fired" in entry.rationale and "aborted" in entry.rationale
    assert entry.approvers == [{"username": ml_lead.username, "role": "ml_lead"}]
    assert entry.evaluation_summary["rollout"] == rollout.pk
    assert DecisionLogEntry.objects.filter(
        amends=request.decision, outcome="rolled_back", decided_by=ml_lead
    ).exists()
    assert verify_chain().ok
    event = AuditEvent.objects.get(event_type="governance.rollout.aborted")
    assert (event.actor, event.reason) == (ml_lead, entry.rationale)
    alert = RolloutAlert.objects.get(rollout=rollout)
    assert alert.email_sent_at is not None and alert.webhook_delivered_at is not None
    assert "aborted" in mail.outbox[-1].subject
    assert "pager fired" in mail.outbox[-1].body
    assert hook.headers[-1]["x-loopgate-event"] == "governance.rollout.aborted"
    assert json.loads(hook.bodies[-1])["rollout_id"] == rollout.pk


@pytest.mark.parametrize("who", ["analyst", "senior"])
def test_an_analyst_or_the_requester_may_not_abort(
    rollout: Rollout, who: str, request: pytest.FixtureRequest
) -> None:
    user: User = request.getfixturevalue(who)
    with pytest.raises(NotPermittedError):
        abort_rollout(rollout=rollout, acting_user=user, reason="stop it")
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.ACTIVE
    assert not DecisionLogEntry.objects.filter(decision="rollback").exists()


def test_a_superuser_without_an_approver_role_may_not_abort(
    rollout: Rollout, make_user: Callable[..., User]
) -> None:
    root = make_user("root", is_superuser=True, is_staff=True)
    with pytest.raises(NotPermittedError):
        abort_rollout(rollout=rollout, acting_user=root, reason="stop it")


def test_a_tier_two_rollout_needs_the_tier_two_role(
    rollout: Rollout, safety: User, ml_lead: User
) -> None:
    PromotionRequest.objects.filter(pk=rollout.request_id).update(tier=2)
    with pytest.raises(NotPermittedError, match="ml_lead"):
        abort_rollout(rollout=rollout, acting_user=safety, reason="stop it")
    abort_rollout(rollout=rollout, acting_user=ml_lead, reason="stop it")
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.ABORTED


@pytest.mark.parametrize("reason", ["", "   ", "x" * (MAX_REASON + 1)])
def test_an_abort_needs_a_bounded_reason(
    rollout: Rollout, ml_lead: User, reason: str
) -> None:
    with pytest.raises(GovernanceError) as caught:
        abort_rollout(rollout=rollout, acting_user=ml_lead, reason=reason)
    assert caught.value.field == "reason"  # type: ignore[attr-defined]
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.ACTIVE


def test_a_finished_rollout_cannot_be_aborted(rollout: Rollout, ml_lead: User) -> None:
    abort_rollout(rollout=rollout, acting_user=ml_lead, reason="first")
    with pytest.raises(StaleRequestError, match="aborted"):
        abort_rollout(rollout=rollout, acting_user=ml_lead, reason="second")
    assert DecisionLogEntry.objects.filter(decision="rollback").count() == 1
    assert check_rollout(rollout_id=rollout.pk) is None  # the beat leaves it


def test_an_incident_rollback_of_production_aborts_the_open_rollout(
    rollout: Rollout,
    ml_lead: User,
    model_v1: Any,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    template = rollout.template
    old_production = label(template, Label.Name.PRODUCTION)
    older = new_prompt(template, prompt_author(), "v0")  # an earlier release
    move_label(
        template=template,
        name=Label.Name.PRODUCTION,
        prompt_version=older,
        model_version=model_v1,
        reason="an earlier release",
        acting_user=ml_lead,
    )
    move_label(
        template=template,
        name=Label.Name.PRODUCTION,
        prompt_version=old_production.prompt_version,
        model_version=old_production.model_version,
        reason="back to the release the rollout started from",
        acting_user=ml_lead,
    )
    with django_capture_on_commit_callbacks(execute=False) as queued:
        rollback_label(template=template, reason="bad answers", acting_user=ml_lead)
    assert len(queued) == 1  # the rollback alert of the ended rollout
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.ABORTED
    production = label(template, Label.Name.PRODUCTION)
    assert production.prompt_version_id == older.pk
    rolling = label(template, Label.Name.ROLLOUT)
    assert str(rolling.traffic_share) == "0.0000"
    assert rolling.prompt_version_id == production.prompt_version_id
    stage = rollout.stages.last()
    assert stage is not None and stage.verdict == RolloutStage.Verdict.ABORTED
    ended = DecisionLogEntry.objects.filter(decision="rollback").order_by("sequence")
    fast_path, abort = list(ended)
    assert "Incident rollback" in fast_path.rationale
    assert "incident fast path" in abort.rationale
    assert f"decision #{fast_path.sequence}" in abort.rationale
    event = AuditEvent.objects.get(event_type="governance.label.rolled_back")
    assert event.data["aborted_rollout"] == rollout.pk
    assert verify_chain().ok


def test_an_incident_rollback_without_a_rollout_aborts_nothing(
    rollout: Rollout, ml_lead: User
) -> None:
    abort_rollout(rollout=rollout, acting_user=ml_lead, reason="stop first")
    template = rollout.template
    production = label(template, Label.Name.PRODUCTION)
    move_label(
        template=template,
        name=Label.Name.PRODUCTION,
        prompt_version=rollout.prompt_version,
        model_version=rollout.model_version,
        reason="moved by hand",
        acting_user=ml_lead,
    )
    rollback_label(template=template, reason="undo", acting_user=ml_lead)
    assert label(template, Label.Name.PRODUCTION).prompt_version_id == (
        production.prompt_version_id
    )
    event = AuditEvent.objects.get(event_type="governance.label.rolled_back")
    assert event.data["aborted_rollout"] is None


def test_an_approved_rollback_request_of_production_aborts_the_open_rollout(
    rollout: Rollout, ml_lead: User, safety: User, model_v1: Any
) -> None:
    template = rollout.template
    old_production = label(template, Label.Name.PRODUCTION)
    older = new_prompt(template, prompt_author(), "v0")
    for prompt_version, why in (
        (older, "an earlier release"),
        (old_production.prompt_version, "back to the rollout's baseline"),
    ):
        move_label(
            template=template,
            name=Label.Name.PRODUCTION,
            prompt_version=prompt_version,
            model_version=model_v1,
            reason=why,
            acting_user=ml_lead,
        )
    # Tier 1: the governed request lands at once, through approvals.deploy.
    request = request_rollback(template=template, reason="drift", requested_by=safety)
    assert (request.tier, request.status) == (1, PromotionRequest.Status.PROMOTED)
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.ABORTED
    production = label(template, Label.Name.PRODUCTION)
    assert production.prompt_version_id == older.pk
    rolling = label(template, Label.Name.ROLLOUT)
    assert str(rolling.traffic_share) == "0.0000"
    assert rolling.prompt_version_id == older.pk
    stage = rollout.stages.last()
    assert stage is not None and stage.verdict == RolloutStage.Verdict.ABORTED
    ended = DecisionLogEntry.objects.filter(decision="rollback").order_by("sequence")
    assert f"approved rollback request #{request.pk}" in ended.last().rationale  # type: ignore[union-attr]
    assert verify_chain().ok
