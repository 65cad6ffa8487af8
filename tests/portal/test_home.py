"""Each role's home at `/`: what waits for this person, and accuracy for all."""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from audit.appendonly import suspended_guards
from demo.loop import demo_risk_assessment
from evaluation.models import GoldenSetSnapshot
from governance.approvals import approve_promotion
from governance.models import DecisionLogEntry, PromotionRequest
from portal.home import Home
from registry.models import Label
from tests.portal.conftest import Queue

pytestmark = pytest.mark.django_db


def home_of(client: Client, user: User) -> tuple[Home, str]:
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    return response.context["home"], response.content.decode()


def test_an_anonymous_visitor_is_sent_to_the_admin_login(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/"


def test_a_senior_analyst_sees_pending_claimed_and_adjudication_items(
    client: Client, queue: Queue, senior: User
) -> None:
    home, html = home_of(client, senior)
    assert home.review is not None
    assert [i.pk for i in home.review.mine] == [queue.claimed.pk]
    assert [i.pk for i in home.review.adjudication] == [queue.escalated.pk]
    assert [i.pk for i in home.review.pending] == [queue.pending.pk]
    assert home.review.pending_total == 1
    assert "Singers older than thirty?" in html
    assert f"/admin/feedback/reviewitem/{queue.escalated.pk}/change/" in html
    # Senior analysts approve no promotion and audit nothing here.
    assert (home.awaiting_me, home.tier3, home.decisions) == (None, None, None)
    assert 'id="approvals"' not in html


def test_whoever_escalated_an_item_is_not_asked_to_adjudicate_it(
    client: Client, queue: Queue, senior2: User
) -> None:
    home, _ = home_of(client, senior2)
    assert home.review is not None
    assert home.review.adjudication == []
    assert home.review.mine == []


def test_the_pending_queue_is_ranked_by_expected_impact(
    client: Client, queue: Queue, senior: User
) -> None:
    # Claimed and escalated items are back to pending for this check.
    ReviewItem = type(queue.pending)
    for item in (queue.claimed, queue.escalated):
        item.state, item.claimed_by, item.escalated_by = "pending", None, None
        item.save(update_fields=["state", "claimed_by", "escalated_by"])
    queue.escalated.weight = 5.0
    queue.escalated.save(update_fields=["weight"])
    home, _ = home_of(client, senior)
    assert home.review is not None
    impacts = [item.impact for item in home.review.pending]
    assert impacts == sorted(impacts, reverse=True)
    assert home.review.pending[0].pk == queue.escalated.pk
    assert ReviewItem.objects.filter(state="pending").count() == 3


def test_an_ml_lead_sees_the_request_awaiting_them_with_its_failing_gate(
    client: Client, tier2_request: PromotionRequest, ml_lead: User
) -> None:
    home, html = home_of(client, ml_lead)
    assert home.awaiting_me is not None
    [waiting] = home.awaiting_me
    assert waiting.request.pk == tier2_request.pk
    assert waiting.missing == ["ml_lead"]
    failed = {gate["name"] for gate in waiting.failing_gates}
    assert failed == {g["name"] for g in tier2_request.gates if not g["passed"]}
    assert failed, "the candidate is worse than the champion: a gate fails"
    assert f"/admin/governance/promotionrequest/{tier2_request.pk}/review/" in html
    for name in failed:
        assert name in html


def test_the_requester_is_not_asked_to_approve_their_own_request(
    client: Client, tier2_request: PromotionRequest, ml_lead2: User
) -> None:
    home, html = home_of(client, ml_lead2)
    assert home.awaiting_me == []
    assert "No request waits for your role." in html


def test_tier3_requests_show_safety_and_product_what_is_still_missing(
    client: Client,
    tier3_request: PromotionRequest,
    safety: User,
    product_owner: User,
) -> None:
    home, html = home_of(client, safety)
    assert home.tier3 is not None and home.awaiting_me is not None
    [waiting] = home.awaiting_me
    assert waiting.request.pk == tier3_request.pk
    assert waiting.missing == ["ai_safety", "product", "ml_lead"]
    # Listed once: what awaits safety is not repeated among the others' requests.
    assert home.tier3 == []
    assert "No other tier-3 request is pending." in html

    approve_promotion(
        request=tier3_request,
        approver=safety,
        comment="Safe.",
        risk_assessment=demo_risk_assessment("payroll"),
    )
    home, html = home_of(client, safety)
    assert home.awaiting_me == []
    assert home.tier3 is not None
    assert home.tier3[0].missing == ["product", "ml_lead"]
    assert 'id="tier3-table"' in html
    home, _ = home_of(client, product_owner)
    assert [w.request.pk for w in home.awaiting_me or []] == [tier3_request.pk]


def test_an_auditor_sees_the_latest_decisions_and_a_verified_log(
    client: Client, tier2_request: PromotionRequest, auditor: User
) -> None:
    home, html = home_of(client, auditor)
    assert home.decisions is not None and home.verification is not None
    assert [e.pk for e in home.decisions] == [tier2_request.decision_id]
    assert home.verification.ok
    assert "Verified: 1 entries" in html
    assert home.review is None and home.awaiting_me is None


def test_an_auditor_sees_when_the_log_fails_verification(
    client: Client, tier2_request: PromotionRequest, auditor: User
) -> None:
    entry = DecisionLogEntry.objects.get()
    with suspended_guards(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE governance_decisionlogentry SET rationale = %s WHERE id = %s",
            ["rewritten after the fact", entry.pk],
        )
    home, html = home_of(client, auditor)
    assert home.verification is not None and not home.verification.ok
    assert "Verification FAILED" in html
    assert home.verification.problems[0] in html


def test_everyone_sees_production_accuracy_per_template(
    client: Client,
    tier2_request: PromotionRequest,
    snapshot: GoldenSetSnapshot,
    analyst: User,
) -> None:
    analyst.is_staff = True
    analyst.save(update_fields=["is_staff"])
    home, html = home_of(client, analyst)
    [row] = home.accuracy
    label = Label.objects.get(name="production")
    assert (row.template, row.snapshot, row.accuracy) == (
        label.template,
        snapshot,
        0.75,
    )
    assert "75.0%" in html
    # Analysts may not open the dashboard or runs: no link leads to a 403.
    assert "/evaluation/dashboard/" not in html
    assert "/admin/evaluation/evaluationrun/" not in html
    assert "Nothing waits for your role here" in html
    assert (home.review, home.awaiting_me, home.decisions) == (None, None, None)


def test_accuracy_links_to_the_dashboard_for_those_who_may_open_it(
    client: Client,
    tier2_request: PromotionRequest,
    auditor: User,
) -> None:
    _, html = home_of(client, auditor)
    assert "/evaluation/dashboard/?template=concerts" in html
    run = tier2_request.champion_run
    assert run is not None
    assert f"/admin/evaluation/evaluationrun/{run.pk}/change/" in html
    client.force_login(auditor)
    assert client.get("/evaluation/dashboard/?template=concerts").status_code == 200


def test_a_template_never_run_on_its_snapshot_shows_no_accuracy(
    client: Client, production: Label, snapshot: GoldenSetSnapshot, auditor: User
) -> None:
    home, html = home_of(client, auditor)
    [row] = home.accuracy
    assert (row.run, row.accuracy) == (None, None)
    assert "not run on it" in html


def test_the_home_page_reads_in_a_bounded_number_of_queries(
    client: Client,
    queue: Queue,
    tier2_request: PromotionRequest,
    tier3_request: PromotionRequest,
    make_user: Any,
    django_assert_max_num_queries: Any,
) -> None:
    admin = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    with django_assert_max_num_queries(40):
        response = client.get("/")
    home = response.context["home"]
    assert home.review is not None and home.tier3 is not None
    assert home.decisions is not None and len(home.accuracy) == 2
    # An administrator holds no approver role: nothing is "awaiting you".
    assert home.awaiting_me is None
    assert [w.request.pk for w in home.tier3] == [tier3_request.pk]
    assert "waiting on others" not in response.content.decode()


def test_the_admin_is_branded_loopgate_and_links_home_and_dashboard(
    client: Client, ml_lead: User
) -> None:
    client.force_login(ml_lead)
    html = client.get("/admin/").content.decode()
    assert "<title>Records and settings | Loopgate</title>" in html
    assert '<a href="/admin/">Loopgate</a>' in html
    assert 'id="home-link" href="/"' in html
    assert 'id="dashboard-link" href="/evaluation/dashboard/"' in html
    assert "Django administration" not in html
