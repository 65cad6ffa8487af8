import pytest
from django.contrib.auth.models import User

from audit.models import AuditEvent
from evaluation.models import EvaluationRun, GoldenSetSnapshot
from governance.approvals import approve_promotion
from governance.breaker import check_circuit_breaker, is_halted, reset_circuit_breaker
from governance.exceptions import GovernanceError, NotPermittedError, SelfApprovalError
from governance.models import DecisionLogEntry
from governance.promotions import request_promotion
from governance.rollbacks import previous_pair, request_rollback, rollback_label
from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion
from tests.governance.run_builders import make_run, new_prompt, prompt_author, summary

# Production moves on approval here (see `immediate_rollout`).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_rollout")]


@pytest.fixture
def promoted(
    production: Label,
    template: PromptTemplate,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    senior: User,
    ml_lead: User,
) -> PromptVersion:
    make_run(production.prompt_version, model_v1, snapshot, summary(0.7))
    run = make_run(
        new_prompt(template, prompt_author(), "v2"), model_v1, snapshot, summary(0.8)
    )
    request = request_promotion(
        template=template,
        prompt_version=run.prompt_version,
        model_version=model_v1,
        candidate_run=run,
        rationale="better",
        requested_by=senior,
    )
    approve_promotion(request=request, approver=ml_lead)
    return run.prompt_version


def serving(template: PromptTemplate) -> PromptVersion:
    return Label.objects.get(template=template, name="production").prompt_version


def test_previous_pair_comes_from_label_history(
    promoted: PromptVersion, template: PromptTemplate, prompt_v1: PromptVersion
) -> None:
    assert previous_pair(template=template, label_name="production").prompt_version == (
        prompt_v1
    )


def test_incident_fast_path_by_ai_safety_rolls_back_at_once(
    promoted: PromptVersion,
    template: PromptTemplate,
    prompt_v1: PromptVersion,
    safety: User,
) -> None:
    with pytest.raises(GovernanceError):
        rollback_label(template=template, reason=" ", acting_user=safety)
    rollback_label(template=template, reason="wrong totals", acting_user=safety)
    assert serving(template) == prompt_v1
    entry = DecisionLogEntry.objects.filter(decision="rollback").get()
    assert entry.approvers == [{"username": "sam", "role": "ai_safety"}]
    assert entry.deployed_at is not None
    assert AuditEvent.objects.filter(event_type="governance.label.rolled_back").exists()


@pytest.mark.parametrize("role", ["product", "senior_analyst", "auditor"])
def test_fast_path_is_refused_to_other_roles(
    promoted: PromptVersion, template: PromptTemplate, make_user: object, role: str
) -> None:
    person = make_user(f"x-{role}", role)  # type: ignore[operator]
    with pytest.raises(NotPermittedError):
        rollback_label(template=template, reason="incident", acting_user=person)
    assert serving(template) == promoted


def test_governed_rollback_follows_the_tier_rules(
    promoted: PromptVersion,
    template: PromptTemplate,
    prompt_v1: PromptVersion,
    safety: User,
    ml_lead: User,
) -> None:
    request = request_rollback(template=template, reason="drift", requested_by=ml_lead)
    assert (request.kind, request.status, request.gates_passed) == (
        "rollback",
        "pending",
        True,
    )
    with pytest.raises(SelfApprovalError):
        approve_promotion(request=request, approver=ml_lead)
    with pytest.raises(NotPermittedError):
        approve_promotion(request=request, approver=safety)  # tier 2 needs ml_lead
    assert serving(template) == promoted


def test_rollback_without_history_is_refused(
    production: Label, template: PromptTemplate, safety: User
) -> None:
    with pytest.raises(GovernanceError, match="never served another pair"):
        rollback_label(template=template, reason="x", acting_user=safety)


def test_breaker_trips_once_and_only_beyond_the_margin(
    production: Label,
    template: PromptTemplate,
    snapshot: GoldenSetSnapshot,
    ml_lead: User,
) -> None:
    pair_model = production.model_version
    make_run(production.prompt_version, pair_model, snapshot, summary(0.80))
    near = make_run(
        new_prompt(template, prompt_author(), "a"), pair_model, snapshot, summary(0.76)
    )
    assert not check_circuit_breaker(template=template, candidate_run=near).halted
    far: EvaluationRun = make_run(
        new_prompt(template, prompt_author(), "b"), pair_model, snapshot, summary(0.70)
    )
    assert check_circuit_breaker(template=template, candidate_run=far).halted
    check_circuit_breaker(template=template, candidate_run=far)
    halts = DecisionLogEntry.objects.filter(decision="halt")
    assert halts.count() == 1
    assert halts.get().evaluation_summary["best"] == 0.80
    assert is_halted(template)


def test_only_an_ml_lead_resets_the_breaker_with_a_reason(
    production: Label,
    template: PromptTemplate,
    snapshot: GoldenSetSnapshot,
    ml_lead: User,
    safety: User,
) -> None:
    make_run(
        production.prompt_version, production.model_version, snapshot, summary(0.9)
    )
    crash = make_run(
        new_prompt(template, prompt_author(), "c"),
        production.model_version,
        snapshot,
        summary(0.2),
    )
    check_circuit_breaker(template=template, candidate_run=crash)
    with pytest.raises(NotPermittedError):
        reset_circuit_breaker(template=template, acting_user=safety, reason="ok")
    with pytest.raises(GovernanceError):
        reset_circuit_breaker(template=template, acting_user=ml_lead, reason="")
    reset_circuit_breaker(template=template, acting_user=ml_lead, reason="data fixed")
    assert not is_halted(template)
    assert DecisionLogEntry.objects.filter(decision="resume").count() == 1
    with pytest.raises(GovernanceError, match="not halted"):
        reset_circuit_breaker(template=template, acting_user=ml_lead, reason="again")
