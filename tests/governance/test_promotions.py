from collections.abc import Callable

import pytest
from django.contrib.auth.models import Permission, User
from django.core import mail

from audit.models import AuditEvent
from evaluation.models import EvaluationRun, GoldenSetSnapshot
from governance.amendments import (
    edit_promotion_request,
    override_gates,
    withdraw_promotion_request,
)
from governance.approvals import (
    approve_promotion,
    reject_promotion,
)
from governance.chain import verify_chain
from governance.exceptions import (
    GovernanceError,
    NotPermittedError,
    SelfApprovalError,
    StaleRequestError,
)
from governance.models import (
    DecisionLogEntry,
    GovernancePolicy,
    PromotionRequest,
)
from governance.promotions import request_promotion
from governance.tiers import TIER_RULES
from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion
from tests.governance.run_builders import (
    make_run,
    make_snapshot,
    new_prompt,
    prompt_author,
    summary,
)

# Production moves on approval here (see `immediate_rollout`).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_rollout")]


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
    ml_lead: User,
) -> EvaluationRun:
    return make_run(
        new_prompt(template, prompt_author(), "v2"),
        model_v1,
        snapshot,
        summary(0.75),
        matches=[True, False, True, True],
    )


def ask(candidate: EvaluationRun, requester: User | None) -> PromotionRequest:
    return request_promotion(
        template=candidate.prompt_version.template,
        prompt_version=candidate.prompt_version,
        model_version=candidate.model_version,
        candidate_run=candidate,
        rationale="better accuracy",
        requested_by=requester,
    )


RISK_ANSWERS = {
    "impact": "Wrong totals in the weekly sales report.",
    "affected_users": "Analysts of tenant acme.",
    "data_sensitivity": "Aggregates only, no personal data.",
    "mitigations": "Shadowed first; alerts on regression.",
    "rollback_plan": "POST /rollbacks/ restores the previous pair.",
}


def production_prompt(template: PromptTemplate) -> PromptVersion:
    return Label.objects.get(template=template, name="production").prompt_version


def test_tier_rules_table() -> None:
    assert {
        t: (r.automatic, r.required_roles, r.quorum) for t, r in TIER_RULES.items()
    } == {
        1: (True, (), 0),
        2: (False, ("ml_lead",), 1),
        3: (False, ("ai_safety", "product", "ml_lead"), 3),
    }


@pytest.mark.parametrize(
    ("tier", "approver_roles", "promoted_after"),
    [
        (1, [], 0),
        (2, ["ml_lead"], 1),
        (2, ["ai_safety"], None),
        (2, ["product"], None),
        (3, ["ai_safety", "product", "ml_lead"], 3),
        (3, ["ml_lead", "ml_lead"], None),
        (3, ["product", "ai_safety"], None),
    ],
)
def test_every_tier_and_role_combination(
    candidate: EvaluationRun,
    template: PromptTemplate,
    senior: User,
    make_user: Callable[..., User],
    tier: int,
    approver_roles: list[str],
    promoted_after: int | None,
) -> None:
    template.risk_tier = tier
    template.save(update_fields=["risk_tier"])
    request = ask(candidate, senior)
    outcomes = []
    for index, role in enumerate(approver_roles):
        person = make_user(f"approver{index}", role)
        # Tier 3 needs a risk assessment; the first approver writes it.
        assessment = RISK_ANSWERS if tier == 3 and index == 0 else None
        try:
            approve_promotion(
                request=request,
                approver=person,
                comment="ok",
                risk_assessment=assessment,
            )
            outcomes.append("approved")
        except (NotPermittedError, StaleRequestError):
            outcomes.append("refused")
    request.refresh_from_db()
    promoted = request.status == PromotionRequest.Status.PROMOTED
    assert promoted == (promoted_after is not None), outcomes
    if promoted:
        assert production_prompt(template) == candidate.prompt_version
        assert outcomes.count("approved") == promoted_after
    else:
        assert production_prompt(template) != candidate.prompt_version


def test_superuser_requester_cannot_approve_own_request(
    candidate: EvaluationRun, make_user: Callable[..., User]
) -> None:
    boss = make_user("boss", "ml_lead", is_superuser=True, is_staff=True)
    request = ask(candidate, boss)
    with pytest.raises(SelfApprovalError):
        approve_promotion(request=request, approver=boss)
    with pytest.raises(SelfApprovalError):
        reject_promotion(request=request, reviewer=boss, comment="no")
    assert request.approvals.count() == 0


def test_superuser_without_a_role_cannot_approve(
    candidate: EvaluationRun, senior: User, make_user: Callable[..., User]
) -> None:
    root = make_user("root", is_superuser=True, is_staff=True)
    with pytest.raises(NotPermittedError):
        approve_promotion(request=ask(candidate, senior), approver=root)


def test_tier2_approval_promotes_logs_deployment_and_writes_release_notes(
    candidate: EvaluationRun, senior: User, ml_lead: User, template: PromptTemplate
) -> None:
    request = ask(candidate, senior)
    assert request.status == "pending"
    assert request.gates_passed, request.gates
    approve_promotion(request=request, approver=ml_lead, comment="looks good")
    request.refresh_from_db()
    assert request.status == "promoted"
    label = Label.objects.get(template=template, name="production")
    assert label.prompt_version == candidate.prompt_version
    outcome = DecisionLogEntry.objects.get(amends=request.decision)
    assert outcome.outcome == "deployed"
    assert outcome.deployed_at == request.closed_at
    assert outcome.approvers == [{"username": "lee", "role": "ml_lead"}]
    segments = {row["segment"]: row for row in outcome.evaluation_summary["segments"]}
    assert segments["overall"]["candidate"] == 0.75
    note = request.release_note
    assert note.decision == request.decision
    assert "v1 → v2" in note.markdown
    assert "lee (ml_lead)" in note.markdown
    assert (
        "| overall | 70.0% (95% CI [54.6%, 81.9%]) | 75.0% (95% CI [59.8%, 85.8%]) "
        "| +5.0 pts | 40 |"
    ) in note.markdown
    assert "\n+v2\n" in note.markdown
    assert "- Example removed: How many singers?" in note.markdown
    assert "Unchanged: knn-1" in note.markdown
    assert verify_chain().ok
    assert set(AuditEvent.objects.values_list("event_type", flat=True)) >= {
        "governance.promotion_request.created",
        "governance.promotion_request.approved",
        "governance.promotion_request.promoted",
        "registry.label.moved",
    }


def test_tier1_promotes_automatically_when_gates_pass(
    candidate: EvaluationRun, template: PromptTemplate, senior: User
) -> None:
    template.risk_tier = 1
    template.save(update_fields=["risk_tier"])
    request = ask(candidate, senior)
    assert request.status == "promoted"
    assert "none (automatic" in request.release_note.markdown


@pytest.mark.parametrize(
    ("cand_summary", "failing"),
    [
        (summary(0.65, segments={"domain:music": 0.70}), "primary_metric"),
        (summary(0.75, segments={"domain:music": 0.60}), "segments"),
        (summary(0.75, success=0.80), "execution_success"),
        (summary(0.75, p95=9000.0), "latency"),
    ],
)
def test_each_failing_gate_blocks_promotion(
    template: PromptTemplate,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    champion: EvaluationRun,
    senior: User,
    ml_lead: User,
    cand_summary: dict[str, object],
    failing: str,
) -> None:
    run = make_run(
        new_prompt(template, prompt_author(), "v2"), model_v1, snapshot, cand_summary
    )
    request = ask(run, senior)
    assert [g["name"] for g in request.gates if not g["passed"]] == [failing]
    with pytest.raises(GovernanceError, match="override"):
        approve_promotion(request=request, approver=ml_lead)
    assert production_prompt(template) != run.prompt_version


def test_segment_drop_within_the_template_threshold_passes(
    template: PromptTemplate,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    champion: EvaluationRun,
    senior: User,
    ml_lead: User,
) -> None:
    run = make_run(
        new_prompt(template, prompt_author(), "v2"),
        model_v1,
        snapshot,
        summary(0.75, segments={"domain:music": 0.69}),
    )
    assert ask(run, senior).gates_passed
    GovernancePolicy.objects.create(template=template, regression_threshold=0.005)
    PromotionRequest.objects.update(status="withdrawn")
    assert not ask(run, senior).gates_passed


def test_candidate_on_an_old_snapshot_fails_the_snapshot_gate(
    candidate: EvaluationRun, senior: User, target_db: object
) -> None:
    make_snapshot(
        candidate.snapshot.items.first().golden_example.target_database, "golden-2", 2
    )
    request = ask(candidate, senior)
    failed = {g["name"] for g in request.gates if not g["passed"]}
    assert "current_snapshot" in failed


def test_override_needs_explicit_permission_and_a_reason_then_approval(
    template: PromptTemplate,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    champion: EvaluationRun,
    senior: User,
    ml_lead: User,
    ml_lead2: User,
    make_user: Callable[..., User],
) -> None:
    run = make_run(
        new_prompt(template, prompt_author(), "v2"), model_v1, snapshot, summary(0.6)
    )
    request = ask(run, senior)
    root = make_user("root", is_superuser=True)
    with pytest.raises(NotPermittedError):
        override_gates(request=request, acting_user=root, reason="trust me")
    with pytest.raises(GovernanceError):
        override_gates(request=request, acting_user=ml_lead, reason=" ")
    override_gates(request=request, acting_user=ml_lead, reason="regulatory fix")
    request.refresh_from_db()
    assert request.override_by == ml_lead and request.status == "pending"
    approve_promotion(request=request, approver=ml_lead2, comment="accepting the dip")
    request.refresh_from_db()
    assert request.status == "promoted"
    assert "Gate override: regulatory fix" in request.release_note.markdown
    event = AuditEvent.objects.get(
        event_type="governance.promotion_request.gate_overridden"
    )
    assert event.reason == "regulatory fix"
    assert event.data["failed_gates"] == ["primary_metric", "segments"]


def test_requester_cannot_override_own_request(
    template: PromptTemplate,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    champion: EvaluationRun,
    ml_lead: User,
) -> None:
    run = make_run(
        new_prompt(template, prompt_author(), "v2"), model_v1, snapshot, summary(0.6)
    )
    request = ask(run, ml_lead)
    assert Permission.objects.filter(group__user=ml_lead, codename="override_gate")
    with pytest.raises(SelfApprovalError):
        override_gates(request=request, acting_user=ml_lead, reason="mine")


def test_editing_a_request_voids_its_approvals(
    candidate: EvaluationRun,
    template: PromptTemplate,
    senior: User,
    safety: User,
    product_owner: User,
    ml_lead: User,
) -> None:
    template.risk_tier = 3
    template.save(update_fields=["risk_tier"])
    request = ask(candidate, senior)
    approve_promotion(request=request, approver=safety, risk_assessment=RISK_ANSWERS)
    approve_promotion(request=request, approver=product_owner)
    old_hash = request.content_hash
    edit_promotion_request(request=request, acting_user=senior, rationale="reworded")
    request.refresh_from_db()
    assert request.content_hash != old_hash
    assert all(a.is_void for a in request.approvals.all())
    # The assessment judged the earlier content: the edited request needs one.
    assert request.risk_assessment_hash == ""
    with pytest.raises(GovernanceError, match="risk assessment"):
        approve_promotion(request=request, approver=ml_lead)
    approve_promotion(request=request, approver=ml_lead, risk_assessment=RISK_ANSWERS)
    request.refresh_from_db()
    assert request.status == "pending"  # the two earlier approvals no longer count
    event = AuditEvent.objects.get(event_type="governance.promotion_request.edited")
    assert event.data["voided_approvals"] == 2


def test_approval_against_a_stale_view_is_refused(
    candidate: EvaluationRun, senior: User, ml_lead: User
) -> None:
    request = ask(candidate, senior)
    seen = request.content_hash
    edit_promotion_request(request=request, acting_user=senior, rationale="changed")
    with pytest.raises(StaleRequestError):
        approve_promotion(request=request, approver=ml_lead, seen_hash=seen)
    request.refresh_from_db()
    assert request.status == "pending"


def test_second_approval_after_promotion_is_refused(
    candidate: EvaluationRun, senior: User, ml_lead: User, ml_lead2: User
) -> None:
    request = ask(candidate, senior)
    approve_promotion(request=request, approver=ml_lead)
    with pytest.raises(StaleRequestError):
        approve_promotion(request=request, approver=ml_lead2)
    assert Label.history.filter(template=request.template).count() == 2


def test_rejection_closes_the_request_and_logs_the_outcome(
    candidate: EvaluationRun, senior: User, safety: User
) -> None:
    request = ask(candidate, senior)
    with pytest.raises(GovernanceError):
        reject_promotion(request=request, reviewer=safety, comment="")
    reject_promotion(request=request, reviewer=safety, comment="unsafe answers")
    request.refresh_from_db()
    assert request.status == "rejected"
    outcome = DecisionLogEntry.objects.get(amends=request.decision)
    assert (outcome.outcome, outcome.rationale) == ("rejected", "unsafe answers")


def test_withdrawal_and_pending_duplicate_rules(
    candidate: EvaluationRun, senior: User
) -> None:
    request = ask(candidate, senior)
    with pytest.raises(StaleRequestError):
        ask(candidate, senior)
    withdraw_promotion_request(request=request, acting_user=senior, reason="later")
    assert ask(candidate, senior).status == "pending"


def test_request_validation_names_the_field(
    candidate: EvaluationRun, senior: User, champion: EvaluationRun
) -> None:
    with pytest.raises(GovernanceError) as wrong_run:
        request_promotion(
            template=candidate.prompt_version.template,
            prompt_version=candidate.prompt_version,
            model_version=candidate.model_version,
            candidate_run=champion,
            rationale="x",
            requested_by=senior,
        )
    assert wrong_run.value.field == "candidate_run"
    with pytest.raises(GovernanceError) as label:
        request_promotion(
            template=candidate.prompt_version.template,
            prompt_version=candidate.prompt_version,
            model_version=candidate.model_version,
            candidate_run=candidate,
            rationale="x",
            requested_by=senior,
            label_name="canary",
        )
    assert label.value.field == "label_name"
    assert not PromotionRequest.objects.exists()


def test_approvers_the_request_needs_are_mailed_on_commit(
    candidate: EvaluationRun,
    template: PromptTemplate,
    make_user: Callable[..., User],
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    template.risk_tier = 3
    template.save(update_fields=["risk_tier"])
    requester = make_user("req", "ml_lead", email="req@example.com")
    make_user("s1", "ai_safety", email="s1@example.com")
    make_user("p1", "product", email="p1@example.com")
    make_user("m1", "ml_lead", email="m1@example.com")
    make_user("a1", "analyst", email="a1@example.com")
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        request = ask(candidate, requester)
    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].bcc) == [
        "m1@example.com",
        "p1@example.com",
        "s1@example.com",
    ]
    assert f"/admin/governance/promotionrequest/{request.pk}/review/" in (
        mail.outbox[0].body
    )
