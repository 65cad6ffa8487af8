"""Staged rollouts: start, wait, advance, roll back on each online gate, sign-off."""

import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone
from pytest_django.fixtures import Settings

from audit.models import AuditEvent
from evaluation.models import EvaluationRun, GoldenSetSnapshot
from evaluation.runs.alerts import verify_signature
from governance import tasks
from governance.approvals import approve_promotion
from governance.chain import verify_chain
from governance.exceptions import (
    GovernanceError,
    NotPermittedError,
    SelfApprovalError,
    StaleRequestError,
)
from governance.holdout import establish_holdout
from governance.models import (
    DecisionLogEntry,
    PromotionRequest,
    ReleaseNote,
    Rollout,
    RolloutAlert,
    RolloutPolicy,
    RolloutStage,
)
from governance.promotions import request_promotion
from governance.rollout_steps import check_rollout, sign_off
from governance.rollouts import check_stages
from registry.models import Label, ModelVersion, PromptTemplate
from registry.selectors import resolve_pair
from registry.services import move_label
from tests.evaluation.runs.test_alerts import SECRET, Hook, hook
from tests.governance.rollout_builders import traffic
from tests.governance.run_builders import (
    make_run,
    new_prompt,
    prompt_author,
    summary,
)
from tests.governance.test_promotions import RISK_ANSWERS

pytestmark = pytest.mark.django_db
__all__ = ["hook"]  # the webhook receiver fixture, shared with the alert tests

MIN = 20


@pytest.fixture
def champion(production: Label, snapshot: GoldenSetSnapshot) -> EvaluationRun:
    return make_run(
        production.prompt_version,
        production.model_version,
        snapshot,
        summary(0.70),
        matches=[True, True, False, False],
    )


@pytest.fixture
def candidate(
    template: PromptTemplate,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    champion: EvaluationRun,
) -> EvaluationRun:
    return make_run(
        new_prompt(template, prompt_author(), "v2"),
        model_v1,
        snapshot,
        summary(0.75),
        matches=[True, False, True, True],
    )


@pytest.fixture
def policy(template: PromptTemplate) -> RolloutPolicy:
    return RolloutPolicy.objects.create(template=template, min_sessions=MIN)


def promote_tier1(candidate: EvaluationRun, requester: User) -> PromotionRequest:
    template = candidate.prompt_version.template
    template.risk_tier = 1
    template.save(update_fields=["risk_tier"])
    return request_promotion(
        template=template,
        prompt_version=candidate.prompt_version,
        model_version=candidate.model_version,
        candidate_run=candidate,
        rationale="better accuracy",
        requested_by=requester,
    )


def pairs(rollout: Rollout) -> tuple[tuple[int, int], tuple[int, int]]:
    return (
        (rollout.prompt_version_id, rollout.model_version_id),
        (rollout.baseline_prompt_version_id, rollout.baseline_model_version_id),
    )


def label(template: PromptTemplate, name: str) -> Label:
    return Label.objects.get(template=template, name=name)


def serve_both(rollout: Rollout, analyst: User, tag: str, **candidate: object) -> None:
    cand, base = pairs(rollout)
    traffic(pair=base, analyst=analyst, sessions=MIN, prefix=f"{tag}-p", negative=2)
    options: dict[str, object] = {"negative": 2, **candidate}
    traffic(pair=cand, analyst=analyst, sessions=MIN, prefix=f"{tag}-c", **options)  # type: ignore[arg-type]


def test_an_approved_promotion_starts_the_pilot_and_leaves_production(
    candidate: EvaluationRun, policy: RolloutPolicy, senior: User, production: Label
) -> None:
    request = promote_tier1(candidate, senior)
    assert request.status == PromotionRequest.Status.ROLLING_OUT
    rollout = Rollout.objects.get(request=request)
    assert (rollout.stage["name"], rollout.status) == ("pilot", "active")
    prod = label(production.template, Label.Name.PRODUCTION)
    assert prod.prompt_version_id == production.prompt_version_id
    rolling = label(production.template, Label.Name.ROLLOUT)
    assert rolling.prompt_version_id == candidate.prompt_version_id
    assert str(rolling.traffic_share) == "0.0500"
    assert list(rollout.stages.values_list("verdict", flat=True)) == ["entered"]
    # The deployment, its card and release notes wait for the last stage.
    assert not ReleaseNote.objects.filter(request=request).exists()
    assert not DecisionLogEntry.objects.filter(
        amends=request.decision, outcome="deployed"
    ).exists()


def test_a_stage_short_of_sessions_waits_and_records_the_count(
    candidate: EvaluationRun, policy: RolloutPolicy, senior: User, analyst: User
) -> None:
    rollout = Rollout.objects.get(request=promote_tier1(candidate, senior))
    cand, base = pairs(rollout)
    traffic(pair=cand, analyst=analyst, sessions=5, prefix="c")
    traffic(pair=base, analyst=analyst, sessions=MIN, prefix="p")
    assert check_rollout(rollout_id=rollout.pk) == "wait"
    rollout.refresh_from_db()
    assert rollout.stage_index == 0
    assert rollout.last_evidence["sessions"] == {
        "candidate": 5,
        "baseline": MIN,
        "needed": MIN,
    }
    assert rollout.last_evidence["verdict"] == "wait"


def test_passing_stages_advance_to_broad_then_production_moves(
    candidate: EvaluationRun, policy: RolloutPolicy, senior: User, analyst: User
) -> None:
    request = promote_tier1(candidate, senior)
    rollout = Rollout.objects.get(request=request)
    template = rollout.template
    serve_both(rollout, analyst, "pilot")
    assert check_rollout(rollout_id=rollout.pk) == "advanced"
    assert str(label(template, Label.Name.ROLLOUT).traffic_share) == "0.2500"
    # A second check of the same stage finds no data since it began: it waits.
    assert check_rollout(rollout_id=rollout.pk) == "wait"
    serve_both(rollout, analyst, "limited")
    assert check_rollout(rollout_id=rollout.pk) == "advanced"
    assert str(label(template, Label.Name.ROLLOUT).traffic_share) == "1.0000"
    # At 100% production serves nobody in the stage: its baseline is the rollout.
    cand, _ = pairs(rollout)
    traffic(pair=cand, analyst=analyst, sessions=MIN, prefix="broad", negative=2)
    request.refresh_from_db()
    assert request.status == PromotionRequest.Status.ROLLING_OUT
    assert check_rollout(rollout_id=rollout.pk) == "completed"
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.COMPLETED
    assert rollout.last_evidence["baseline_since"] != rollout.last_evidence["since"]
    prod = label(template, Label.Name.PRODUCTION)
    assert prod.prompt_version_id == candidate.prompt_version_id
    assert str(label(template, Label.Name.ROLLOUT).traffic_share) == "0.0000"
    request.refresh_from_db()
    assert request.status == PromotionRequest.Status.PROMOTED
    assert ReleaseNote.objects.filter(request=request).exists()
    assert DecisionLogEntry.objects.filter(
        amends=request.decision, outcome="deployed"
    ).exists()
    verdicts = list(rollout.stages.values_list("stage", "verdict"))
    assert verdicts == [
        ("pilot", "entered"),
        ("pilot", "passed"),
        ("limited", "entered"),
        ("limited", "passed"),
        ("broad", "entered"),
        ("broad", "passed"),
    ]
    assert verify_chain().ok


FAILURES = {
    "negative_rate": {"negative": 14},
    "execution_success": {"failures": 12},
    "metric:answer_used": {"metric": 0.0},
    "latency_p95": {"latency_ms": 400},
}


@pytest.mark.parametrize("gate", list(FAILURES))
def test_a_candidate_worse_on_one_online_metric_is_rolled_back(
    candidate: EvaluationRun,
    policy: RolloutPolicy,
    senior: User,
    analyst: User,
    settings: Settings,
    hook: Hook,
    gate: str,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    settings.REGRESSION_ALERT_EMAILS = ["ml-leads@example.com"]
    settings.REGRESSION_ALERT_WEBHOOK_URL = hook.url
    settings.REGRESSION_ALERT_WEBHOOK_SECRET = SECRET
    request = promote_tier1(candidate, senior)
    rollout = Rollout.objects.get(request=request)
    cand, base = pairs(rollout)
    traffic(
        pair=base, analyst=analyst, sessions=MIN, prefix="p", negative=2, metric=1.0
    )
    bad: dict[str, object] = {"negative": 2, "metric": 1.0, **FAILURES[gate]}
    traffic(pair=cand, analyst=analyst, sessions=MIN, prefix="c", **bad)  # type: ignore[arg-type]
    with django_capture_on_commit_callbacks(execute=True) as queued:
        assert check_rollout(rollout_id=rollout.pk) == "rolled_back"
    assert len(queued) == 1  # the alert is sent once the rollback commits
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.ROLLED_BACK
    assert rollout.last_evidence["failed"] == [gate]
    rolling = label(rollout.template, Label.Name.ROLLOUT)
    assert str(rolling.traffic_share) == "0.0000"
    assert rolling.prompt_version_id == rollout.baseline_prompt_version_id
    prod = label(rollout.template, Label.Name.PRODUCTION)
    assert prod.prompt_version_id == rollout.baseline_prompt_version_id
    request.refresh_from_db()
    assert request.status == PromotionRequest.Status.REVERTED
    decision = DecisionLogEntry.objects.get(decision="rollback")
    assert decision.decided_by is None
    failed = [
        g for g in decision.evaluation_summary["online"]["gates"] if not g["passed"]
    ]
    assert [g["name"] for g in failed] == [gate]
    assert failed[0]["p_value"] < failed[0]["alpha"]
    assert DecisionLogEntry.objects.filter(
        amends=request.decision, outcome="rolled_back"
    ).exists()
    assert rollout.stages.last().verdict == RolloutStage.Verdict.FAILED  # type: ignore[union-attr]
    alert = RolloutAlert.objects.get(rollout=rollout)
    assert alert.email_sent_at is not None and alert.webhook_delivered_at is not None
    assert gate in mail.outbox[-1].body and "rolled back" in mail.outbox[-1].subject
    assert hook.headers[-1]["x-loopgate-event"] == "governance.rollout.rolled_back"
    assert verify_signature(
        hook.bodies[-1], hook.headers[-1]["x-loopgate-signature"], secret=SECRET
    )
    assert json.loads(hook.bodies[-1])["stage"] == "pilot"
    assert AuditEvent.objects.filter(
        event_type="governance.rollout.rolled_back"
    ).exists()
    assert verify_chain().ok


def test_latency_above_production_but_within_tolerance_passes(
    candidate: EvaluationRun, policy: RolloutPolicy, senior: User, analyst: User
) -> None:
    rollout = Rollout.objects.get(request=promote_tier1(candidate, senior))
    # 5% slower, every time: significant, yet within the 10% tolerance.
    serve_both(rollout, analyst, "pilot", latency_ms=105)
    assert check_rollout(rollout_id=rollout.pk) == "advanced"
    latency = (
        rollout.__class__.objects.get(pk=rollout.pk)
        .stages.get(verdict="passed")
        .evidence["gates"][-1]
    )
    assert latency["name"] == "latency_p95" and latency["passed"]
    assert latency["p_value"] < latency["alpha"]


def test_a_stage_past_its_maximum_age_rolls_back_as_inconclusive(
    candidate: EvaluationRun, policy: RolloutPolicy, senior: User
) -> None:
    rollout = Rollout.objects.get(request=promote_tier1(candidate, senior))
    later = timezone.now() + timedelta(hours=policy.max_stage_hours + 1)
    assert check_rollout(rollout_id=rollout.pk, now=later) == "rolled_back"
    stage = rollout.stages.last()
    assert stage is not None and stage.verdict == RolloutStage.Verdict.INCONCLUSIVE
    assert mail.outbox == []  # no recipients configured: nothing to mail


def test_tier_three_waits_for_a_sign_off_with_four_eyes(
    candidate: EvaluationRun,
    policy: RolloutPolicy,
    senior: User,
    analyst: User,
    make_user: Callable[..., User],
) -> None:
    template = candidate.prompt_version.template
    template.risk_tier = 3
    template.save(update_fields=["risk_tier"])
    request = request_promotion(
        template=template,
        prompt_version=candidate.prompt_version,
        model_version=candidate.model_version,
        candidate_run=candidate,
        rationale="better accuracy",
        requested_by=senior,
    )
    approvers = [
        make_user(f"a{i}", r) for i, r in enumerate(["ai_safety", "product", "ml_lead"])
    ]
    for index, person in enumerate(approvers):
        approve_promotion(
            request=request,
            approver=person,
            comment="ok",
            risk_assessment=RISK_ANSWERS if index == 0 else None,
        )
    rollout = Rollout.objects.get(request=request)
    serve_both(rollout, analyst, "pilot")
    assert check_rollout(rollout_id=rollout.pk) == "advanced"
    serve_both(rollout, analyst, "limited")
    assert check_rollout(rollout_id=rollout.pk) == "awaiting_signoff"
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.AWAITING_SIGNOFF
    assert str(label(template, Label.Name.ROLLOUT).traffic_share) == "0.2500"
    assert tasks.advance_rollouts() is None  # the beat leaves it waiting
    rollout.refresh_from_db()
    assert rollout.stage_index == 1
    senior.groups.add(approvers[0].groups.get())
    with pytest.raises(SelfApprovalError):  # the requester, even with a role
        sign_off(rollout=rollout, acting_user=senior, comment="ship")
    with pytest.raises(NotPermittedError):
        sign_off(rollout=rollout, acting_user=analyst, comment="ship")
    author = prompt_author()
    author.groups.add(approvers[0].groups.get())
    with pytest.raises(SelfApprovalError):
        sign_off(rollout=rollout, acting_user=author, comment="ship")
    with pytest.raises(GovernanceError):
        sign_off(rollout=rollout, acting_user=approvers[0], comment=" ")
    sign_off(
        rollout=rollout, acting_user=approvers[0], comment="pilot and limited clean"
    )
    rollout.refresh_from_db()
    assert (rollout.status, rollout.stage["name"]) == ("active", "broad")
    assert rollout.signed_off_by == approvers[0]
    assert str(label(template, Label.Name.ROLLOUT).traffic_share) == "1.0000"
    with pytest.raises(StaleRequestError):
        sign_off(rollout=rollout, acting_user=approvers[1], comment="again")


def test_holdout_sessions_never_reach_the_rollout(
    production: Label, candidate: EvaluationRun, settings: Any
) -> None:
    template = production.template
    settings.HOLDOUT_SHARE = 0.3  # a large share, so the split is visible
    establish_holdout(template=template, acting_user=None)
    move_label(
        template=template,
        name=Label.Name.ROLLOUT,
        prompt_version=candidate.prompt_version,
        model_version=candidate.model_version,
        reason="broad",
        acting_user=None,
        traffic_share=Decimal("1"),
    )
    served = [
        resolve_pair(template=template, session_id=f"s{i}").label.name
        for i in range(300)
    ]
    assert set(served) == {"holdout", "rollout"}
    assert 60 < served.count("holdout") < 120


def test_the_immediate_policy_moves_production_at_once(
    candidate: EvaluationRun, senior: User, template: PromptTemplate
) -> None:
    RolloutPolicy.objects.create(template=template, mode=RolloutPolicy.Mode.IMMEDIATE)
    request = promote_tier1(candidate, senior)
    assert request.status == PromotionRequest.Status.PROMOTED
    assert not Rollout.objects.exists()
    prod = label(template, Label.Name.PRODUCTION)
    assert prod.prompt_version_id == candidate.prompt_version_id


def test_a_second_rollout_of_a_template_is_refused_while_one_is_open(
    candidate: EvaluationRun,
    policy: RolloutPolicy,
    senior: User,
    snapshot: GoldenSetSnapshot,
) -> None:
    promote_tier1(candidate, senior)
    other = make_run(
        new_prompt(candidate.prompt_version.template, prompt_author(), "v3"),
        candidate.model_version,
        snapshot,
        summary(0.75),
        matches=[True, False, True, True],
    )
    with pytest.raises(StaleRequestError, match="under way"):
        promote_tier1(other, senior)
    assert Rollout.objects.count() == 1


def test_stages_must_rise_within_zero_and_one(template: PromptTemplate) -> None:
    for bad in (
        [],
        [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.2}],
        [{"name": "a", "share": 1.5}],
        [{"share": 0.1}],
        "pilot",
        [{"name": "a", "share": True}],
    ):
        with pytest.raises(GovernanceError) as caught:
            check_stages(bad)
        assert caught.value.field == "stages"
        with pytest.raises(ValidationError) as invalid:
            RolloutPolicy(template=template, stages=bad).clean()
        assert "stages" in invalid.value.message_dict
    assert check_stages([{"name": " pilot ", "share": 1}]) == [
        {"name": "pilot", "share": 1.0}
    ]
