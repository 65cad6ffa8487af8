from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from audit.models import AuditEvent
from evaluation.models import EvaluationRun, GoldenSetSnapshot
from governance.decisions import open_decision
from governance.models import (
    DecisionLogEntry,
    PromotionRequest,
)
from governance.promotions import request_promotion
from registry.models import Label, ModelVersion, PromptTemplate
from tests.governance.run_builders import make_run, new_prompt, prompt_author, summary

pytestmark = pytest.mark.django_db


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
        summary(0.7),
        matches=[True, True, False, False],
    )
    run: EvaluationRun = make_run(
        new_prompt(template, prompt_author(), "v2"),
        model_v1,
        snapshot,
        summary(0.75),
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
def login(client: Client) -> Callable[[User], Client]:
    def as_user(user: User) -> Client:
        client.force_login(user)
        return client

    return as_user


def test_queue_lists_pending_requests_and_review_shows_the_comparison(
    pending: PromotionRequest, ml_lead: User, login: Callable[[User], Client]
) -> None:
    client = login(ml_lead)
    queue = client.get("/admin/governance/promotionrequest/")
    assert queue.status_code == 200
    assert f"/admin/governance/promotionrequest/{pending.pk}/review/" in (
        queue.content.decode()
    )
    page = client.get(f"/admin/governance/promotionrequest/{pending.pk}/review/")
    html = page.content.decode()
    assert 'id="segments"' in html and "domain:music" in html
    assert "fixed: golden-1 question 2" in html
    assert "broken: golden-1 question 1" in html
    assert 'id="approve-button"' in html


def test_requester_is_refused_in_the_admin_too(
    pending: PromotionRequest,
    make_user: Callable[..., User],
    login: Callable[[User], Client],
) -> None:
    pending.requested_by.groups.add(*make_user("x", "ml_lead").groups.all())
    pending.requested_by.is_superuser = True
    pending.requested_by.save()
    client = login(pending.requested_by)
    response = client.post(
        f"/admin/governance/promotionrequest/{pending.pk}/review/",
        {"action": "approve", "comment": "mine", "content_hash": pending.content_hash},
        follow=True,
    )
    assert "Four-eyes" in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == "pending" and not pending.approvals.exists()


def test_bulk_reject_action_asks_for_a_comment_then_rejects(
    pending: PromotionRequest, safety: User, login: Callable[[User], Client]
) -> None:
    client = login(safety)
    url = "/admin/governance/promotionrequest/"
    form = client.post(
        url, {"action": "reject_selected", "_selected_action": [pending.pk]}
    )
    assert b'name="comment"' in form.content
    client.post(
        url,
        {
            "action": "reject_selected",
            "_selected_action": [pending.pk],
            "comment": "too risky",
        },
    )
    pending.refresh_from_db()
    assert pending.status == "rejected"


def test_auditor_reads_but_cannot_change_records_in_admin(
    template: PromptTemplate, auditor: User, login: Callable[[User], Client]
) -> None:
    entry = open_decision(
        template=template, decision="defer", rationale="wait", acting_user=None
    )
    client = login(auditor)
    assert client.get("/admin/governance/decisionlogentry/").status_code == 200
    page = client.get(f"/admin/governance/decisionlogentry/{entry.pk}/change/")
    assert page.status_code == 200 and b'name="rationale"' not in page.content
    client.post(
        f"/admin/governance/decisionlogentry/{entry.pk}/change/", {"rationale": "x"}
    )
    assert (
        client.post(
            f"/admin/governance/decisionlogentry/{entry.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    entry.refresh_from_db()
    assert entry.rationale == "wait"
    assert DecisionLogEntry.objects.count() == 1
    assert (
        AuditEvent.objects.filter(event_type="governance.decision.logged").count() == 1
    )
