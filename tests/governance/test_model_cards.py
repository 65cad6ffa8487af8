"""Model cards and risk assessments: content, versions, finality, links, and
tier 3 refused without an assessment on every approval path."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from evaluation.models import EvaluationRun, GoldenSetSnapshot
from governance import model_cards
from governance.amendments import withdraw_promotion_request
from governance.approvals import (
    approve_promotion,
    complete_risk_assessment,
    reject_promotion,
)
from governance.card_render import render_markdown
from governance.chain import verify_chain
from governance.exceptions import (
    GovernanceError,
    NotPermittedError,
    SelfApprovalError,
    StaleRequestError,
)
from governance.models import DecisionLogEntry, ModelCard, PromotionRequest
from governance.promotions import request_promotion
from registry.models import Label, ModelVersion, PromptTemplate
from tests.governance.run_builders import make_run, new_prompt, summary

# Production moves on approval here (see `immediate_rollout`).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_rollout")]
API = "/api/v1/governance/promotions"
RISK = {
    "impact": "Wrong totals in the weekly report.",
    "affected_users": "Analysts of tenant acme.",
    "data_sensitivity": "Aggregates only.",
    "mitigations": "Shadowed first.",
    "rollback_plan": "POST /rollbacks/.",
}


@pytest.fixture
def pending(
    production: Label,
    template: PromptTemplate,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    ml_lead: User,
    senior: User,
) -> PromotionRequest:
    make_run(
        production.prompt_version,
        model_v1,
        snapshot,
        summary(0.5, segments={"difficulty:easy": 0.85, "difficulty:hard": 0.35}),
        matches=[True, True, False, False],
    )
    run: EvaluationRun = make_run(
        new_prompt(template, ml_lead, "v2"),
        model_v1,
        snapshot,
        summary(0.75, segments={"difficulty:easy": 0.9, "difficulty:hard": 0.4}),
        matches=[True, False, True, True],
    )
    return request_promotion(
        template=template,
        prompt_version=run.prompt_version,
        model_version=model_v1,
        candidate_run=run,
        rationale="better",
        requested_by=senior,
    )


@pytest.fixture
def tier3(pending: PromotionRequest) -> PromotionRequest:
    PromotionRequest.objects.filter(pk=pending.pk).update(tier=3)
    pending.refresh_from_db()
    return pending


def test_every_request_carries_a_card_with_intervals_and_limitations(
    pending: PromotionRequest,
) -> None:
    card = ModelCard.objects.get(request=pending)
    content = card.content
    assert (card.version, card.final) == (1, False)
    assert content["pair"]["prompt"]["parent"]["number"] == 1
    assert content["intended_use"]["target_database"]["name"] == "concert_singer"
    easy = content["evaluation"]["segments"]["difficulty:easy"]
    assert easy["n"] == 20 and easy["accuracy"] == 0.9
    assert easy["interval"] == [0.699, 0.9721]  # Wilson 95% of 18/20
    kinds = {(x["kind"], x.get("segment")) for x in content["known_limitations"]}
    assert ("below_threshold", "difficulty:hard") in kinds
    assert ("underpowered", "difficulty:easy") in kinds  # 20 < 30 golden items
    assert ("below_threshold", "difficulty:easy") not in kinds
    assert content["error_profile"]["remaining_errors"]["failed_items"] == 1
    assert content["lineage"] == {"source": "requested by a person, not a cycle"}
    assert content["risk_assessment_rule"] == "requested"
    text = render_markdown(content, version=1, final=False)
    assert "| difficulty:easy | 20 | 90.0% | [69.9%, 97.2%] |" in text


def test_the_final_card_is_written_on_promotion_and_linked_from_the_log(
    pending: PromotionRequest, ml_lead2: User
) -> None:
    approve_promotion(request=pending, approver=ml_lead2, risk_assessment=RISK)
    final = ModelCard.objects.filter(request=pending).order_by("-version").first()
    assert final is not None and final.final
    assert final.content["status"] == "promoted"
    assert final.content["approvals"] == [{"username": "max", "role": "ml_lead"}]
    assert final.content["risk_assessment"]["answers"] == RISK
    outcome = DecisionLogEntry.objects.get(amends=pending.decision, outcome="deployed")
    assert outcome.evaluation_summary["model_card"] == {
        "id": final.pk,
        "request": pending.pk,
        "version": final.version,
        "content_hash": final.content_hash,
    }
    assert verify_chain().ok
    with pytest.raises(GovernanceError, match="final"):
        model_cards.write_card(pending)


@pytest.mark.parametrize("close", ["reject", "withdraw"])
def test_rejected_and_withdrawn_requests_get_a_final_linked_card(
    pending: PromotionRequest, safety: User, senior: User, close: str
) -> None:
    if close == "reject":
        reject_promotion(request=pending, reviewer=safety, comment="no")
    else:
        withdraw_promotion_request(request=pending, acting_user=senior, reason="x")
    final = ModelCard.objects.get(request=pending, final=True)
    outcome = DecisionLogEntry.objects.get(amends=pending.decision)
    assert outcome.evaluation_summary["model_card"]["content_hash"] == (
        final.content_hash
    )
    with pytest.raises(StaleRequestError):
        complete_risk_assessment(request=pending, acting_user=safety, answers=RISK)


def test_tier3_is_refused_without_an_assessment_in_the_service(
    tier3: PromotionRequest, safety: User, product_owner: User, ml_lead2: User
) -> None:
    for person in (safety, product_owner, ml_lead2):
        with pytest.raises(GovernanceError, match="risk assessment") as refused:
            approve_promotion(request=tier3, approver=person)
        assert refused.value.field == "risk_assessment"
    assert not tier3.approvals.exists()
    approve_promotion(request=tier3, approver=safety, risk_assessment=RISK)
    approve_promotion(request=tier3, approver=product_owner)
    approve_promotion(request=tier3, approver=ml_lead2)
    tier3.refresh_from_db()
    assert tier3.status == "promoted"


def test_tier3_is_refused_without_an_assessment_by_api(
    tier3: PromotionRequest, safety: User
) -> None:
    client = APIClient()
    client.force_authenticate(safety)
    url = f"{API}/{tier3.pk}/approve/"
    refused = client.post(url, {"comment": "ok"}, format="json")
    assert refused.status_code == 400
    assert "risk assessment" in refused.json()["risk_assessment"][0]
    partial = client.post(
        url, {"risk_assessment": {**RISK, "impact": " "}}, format="json"
    )
    assert partial.status_code == 400 and "risk_assessment.impact" in partial.json()
    extra = client.post(url, {"risk_assessment": {**RISK, "x": "y"}}, format="json")
    assert extra.status_code == 400
    assert not tier3.approvals.exists() and not tier3.risk_assessments.exists()
    done = client.post(url, {"risk_assessment": RISK}, format="json")
    assert done.status_code == 200, done.content
    assert tier3.approvals.count() == 1


def test_tier3_is_refused_without_an_assessment_on_the_admin_page_and_action(
    tier3: PromotionRequest, safety: User, client: Client
) -> None:
    client.force_login(safety)
    page = f"/admin/governance/promotionrequest/{tier3.pk}/review/"
    assert b'id="risk-form"' in client.get(page).content
    response = client.post(
        page,
        {"action": "approve", "content_hash": tier3.content_hash},
        follow=True,
    )
    assert "cannot be approved without a completed risk" in response.content.decode()
    bulk = client.post(
        "/admin/governance/promotionrequest/",
        {
            "action": "approve_selected",
            "_selected_action": [tier3.pk],
            "comment": "ok",
        },
        follow=True,
    )
    assert "risk assessment" in bulk.content.decode()
    assert not tier3.approvals.exists()
    client.post(
        page,
        {
            "action": "approve",
            "content_hash": tier3.content_hash,
            **{f"risk_{k}": v for k, v in RISK.items()},
        },
    )
    assert tier3.approvals.count() == 1 and tier3.risk_assessments.count() == 1


def test_who_may_write_an_assessment_and_revisions_void_approvals(
    tier3: PromotionRequest,
    senior: User,
    safety: User,
    product_owner: User,
    make_user: Callable[..., User],
) -> None:
    senior.groups.add(*make_user("x", "ai_safety").groups.all())
    with pytest.raises(SelfApprovalError):
        complete_risk_assessment(request=tier3, acting_user=senior, answers=RISK)
    with pytest.raises(NotPermittedError):
        complete_risk_assessment(
            request=tier3, acting_user=make_user("aud", "auditor"), answers=RISK
        )
    approve_promotion(request=tier3, approver=safety, risk_assessment=RISK)
    complete_risk_assessment(
        request=tier3,
        acting_user=product_owner,
        answers={**RISK, "mitigations": "Shadowed first; a 10% canary."},
    )
    tier3.refresh_from_db()
    assert all(a.is_void for a in tier3.approvals.all())
    assert tier3.risk_assessments.count() == 2


def test_auditors_read_cards_in_every_format(
    pending: PromotionRequest, make_user: Callable[..., User]
) -> None:
    client = APIClient()
    url = f"{API}/{pending.pk}/model-card"
    assert client.get(f"{url}/").status_code == 401
    client.force_authenticate(make_user("ana", "analyst"))
    assert client.get(f"{url}/").status_code == 403
    client.force_authenticate(make_user("aud", "auditor"))
    assert client.get(f"{API}/999/model-card/").status_code == 404
    body = client.get(f"{url}/").json()
    assert body["version"] == 1 and body["content"]["request"] == pending.pk
    markdown = client.get(f"{url}.md")
    assert markdown["Content-Type"].startswith("text/markdown")
    assert b"## Evaluation (execution accuracy)" in markdown.content
    html = client.get(f"{url}.html")
    assert b"@media print" in html.content and b"Wilson 95%" in html.content
    assert client.get(f"{url}.pdf").status_code == 404
    risk = client.get(f"{API}/{pending.pk}/risk-assessment/").json()
    assert [f["name"] for f in risk["fields"]][:2] == ["impact", "affected_users"]
    assert risk["current"] is None
    refused = client.post(
        f"{API}/{pending.pk}/risk-assessment/", {"answers": RISK}, format="json"
    )
    assert refused.status_code == 403
