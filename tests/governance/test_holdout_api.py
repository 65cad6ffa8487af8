"""The holdout through the API and the admin: comparison, baseline requests,
the per-template page, and the label admin that cannot edit it."""

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from governance.holdout import establish_holdout
from governance.models import PromotionRequest
from registry.models import Label, PromptTemplate, PromptVersion
from registry.services import move_label
from tests.governance.run_builders import new_prompt, prompt_author
from tests.governance.test_holdout import sessions_for, traffic

pytestmark = pytest.mark.django_db

SHOTS = Path("/work/shots/holdout")


@pytest.fixture
def holdout(production: Label, ml_lead: User) -> Label:
    return establish_holdout(template=production.template, acting_user=ml_lead)


@pytest.fixture
def production_v2(production: Label, holdout: Label, ml_lead: User) -> PromptVersion:
    prompt = new_prompt(production.template, prompt_author(), "v2")
    move_label(
        template=production.template,
        name=Label.Name.PRODUCTION,
        prompt_version=prompt,
        model_version=production.model_version,
        reason="moved on",
        acting_user=ml_lead,
    )
    return prompt


# --- comparison endpoint --------------------------------------------------------


def test_comparison_needs_authentication(api_client: APIClient, holdout: Label) -> None:
    assert api_client.get("/api/v1/governance/holdout/concerts/").status_code == 401


def test_comparison_needs_the_label_view_permission(
    client_as: Callable[[User], APIClient],
    make_user: Callable[..., User],
    holdout: Label,
) -> None:
    nobody = make_user("nobody")
    response = client_as(nobody).get("/api/v1/governance/holdout/concerts/")
    assert response.status_code == 403


def test_comparison_is_404_without_a_template_or_a_holdout(
    client_as: Callable[[User], APIClient], analyst: User, production: Label
) -> None:
    client = client_as(analyst)
    assert client.get("/api/v1/governance/holdout/nope/").status_code == 404
    assert client.get("/api/v1/governance/holdout/concerts/").status_code == 404


@pytest.mark.parametrize("days", ["abc", "0", "10000", "-3"])
def test_a_bad_period_is_a_400_naming_days(
    client_as: Callable[[User], APIClient], analyst: User, holdout: Label, days: str
) -> None:
    response = client_as(analyst).get(
        "/api/v1/governance/holdout/concerts/", {"days": days}
    )
    assert response.status_code == 400
    assert response.json()["days"]


def test_comparison_shows_both_sides(
    client_as: Callable[[User], APIClient],
    analyst: User,
    holdout: Label,
    production: Label,
) -> None:
    template = holdout.template
    traffic(
        holdout,
        analyst,
        sessions_for(template, held=True, count=4),
        negatives=1,
        failures=0,
        latencies=[100],
    )
    traffic(
        production,
        analyst,
        sessions_for(template, held=False, count=8),
        negatives=4,
        failures=2,
        latencies=[200],
    )
    response = client_as(analyst).get(
        "/api/v1/governance/holdout/concerts/", {"days": 7}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["share"] == "0.0200"
    assert body["holdout"]["interactions"] == 4
    assert body["holdout"]["negative_rate"] == 0.25
    assert body["production"]["success_rate"] == 0.75
    assert body["delta"]["negative_rate"] == 0.25
    assert body["significant"] is False


# --- baseline-change endpoint ---------------------------------------------------


def test_a_baseline_request_by_api_opens_a_pending_baseline_request(
    client_as: Callable[[User], APIClient],
    ml_lead: User,
    holdout: Label,
    production_v2: PromptVersion,
) -> None:
    url = "/api/v1/governance/holdout/concerts/baseline-requests/"
    client = client_as(ml_lead)
    assert client.post(url, {}, format="json").json()["rationale"]
    response = client.post(url, {"rationale": "re-base on v2"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["label_name"], body["status"]) == (
        "baseline",
        "holdout",
        "pending",
    )
    holdout.refresh_from_db()
    assert holdout.prompt_version_id != production_v2.pk


def test_a_baseline_request_needs_the_request_permission(
    client_as: Callable[[User], APIClient], analyst: User, holdout: Label
) -> None:
    response = client_as(analyst).post(
        "/api/v1/governance/holdout/concerts/baseline-requests/",
        {"rationale": "x"},
        format="json",
    )
    assert response.status_code == 403


def test_a_baseline_request_names_the_bad_field(
    client_as: Callable[[User], APIClient], ml_lead: User, holdout: Label
) -> None:
    client = client_as(ml_lead)
    url = "/api/v1/governance/holdout/concerts/baseline-requests/"
    response = client.post(
        url, {"rationale": "x", "prompt_version": 999999}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["prompt_version"]
    response = client.post(
        url,
        {"rationale": "x", "prompt_version": holdout.prompt_version_id},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["model_version"]
    same = client.post(url, {"rationale": "same pair"}, format="json")
    assert same.status_code == 400 and same.json()["pair"]
    assert not PromotionRequest.objects.exists()


# --- admin ------------------------------------------------------------------------


@pytest.fixture
def login(client: Client) -> Callable[[User], Client]:
    def as_user(user: User) -> Client:
        client.force_login(user)
        return client

    return as_user


def test_the_admin_page_establishes_and_shows_the_holdout(
    production: Label, ml_lead: User, login: Callable[[User], Client]
) -> None:
    client = login(ml_lead)
    url = "/admin/governance/holdoutreport/template/concerts/"
    page = client.get(url).content.decode()
    assert 'id="no-holdout"' in page and 'id="establish-form"' in page
    client.post(url, {"action": "establish"})
    label = Label.objects.get(template=production.template, name="holdout")
    assert label.traffic_share == Decimal("0.0200")
    page = client.get(url).content.decode()
    assert 'id="holdout-comparison"' in page and 'id="baseline-form"' in page
    listing = client.get("/admin/governance/holdoutreport/").content.decode()
    assert url in listing


def test_the_admin_page_refuses_establishing_without_the_permission(
    production: Label,
    make_user: Callable[..., User],
    login: Callable[[User], Client],
) -> None:
    auditor = make_user("aud2", "auditor", is_staff=True)
    client = login(auditor)
    url = "/admin/governance/holdoutreport/template/concerts/"
    assert client.get(url).status_code == 200
    assert client.post(url, {"action": "establish"}).status_code == 403
    assert not Label.objects.filter(name="holdout").exists()


def test_the_admin_baseline_form_opens_a_request_and_reports_refusals(
    holdout: Label,
    production_v2: PromptVersion,
    ml_lead: User,
    login: Callable[[User], Client],
) -> None:
    client = login(ml_lead)
    url = "/admin/governance/holdoutreport/template/concerts/"
    refused = client.post(url, {"action": "baseline", "rationale": " "}, follow=True)
    assert "needs a rationale" in refused.content.decode()
    client.post(url, {"action": "baseline", "rationale": "v2 is settled"})
    request = PromotionRequest.objects.get(kind="baseline")
    assert request.requested_by == ml_lead
    assert 'id="pending-baseline"' in client.get(url).content.decode()


def test_the_label_admin_cannot_edit_the_holdout(
    holdout: Label,
    make_user: Callable[..., User],
    login: Callable[[User], Client],
    production_v2: PromptVersion,
) -> None:
    root = make_user("root", is_staff=True, is_superuser=True)
    client = login(root)
    url = f"/admin/registry/label/{holdout.pk}/change/"
    response = client.post(
        url,
        {
            "prompt_version": production_v2.pk,
            "model_version": holdout.model_version_id,
            "traffic_share": "0.5",
        },
    )
    assert response.status_code == 403
    holdout.refresh_from_db()
    assert holdout.prompt_version_id != production_v2.pk
    assert holdout.traffic_share == Decimal("0.0200")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_holdout_page_in_a_browser(
    roles_present: None,
    browser: Any,
    live_server: Any,
    production: Label,
    template: PromptTemplate,
    ml_lead: User,
) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "lee")
        page.fill("#id_password", "pw")
        page.click("input[type=submit]")
        page.goto(f"{live_server.url}/admin/governance/holdoutreport/")
        page.click("#holdout-pages a")
        page.click("#establish-form button")
        page.wait_for_selector("#holdout-comparison")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "holdout_page.png"), full_page=True)
        assert "2.0% of sessions" in page.inner_text("#holdout-summary")
    finally:
        page.close()
    assert Label.objects.get(template=template, name="holdout").moved_by == ml_lead


def test_nobody_logs_a_rebaseline_decision_by_hand(
    client_as: Callable[[User], APIClient], ml_lead: User, production: Label
) -> None:
    response = client_as(ml_lead).post(
        "/api/v1/governance/decisions/",
        {"template": "concerts", "decision": "rebaseline", "rationale": "fake"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["decision"]
