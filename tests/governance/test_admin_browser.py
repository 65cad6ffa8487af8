"""A tier-2 approval driven through the real admin in headless Chromium."""

from typing import Any

import pytest
from django.contrib.auth.models import User

from evaluation.models import GoldenSetSnapshot
from governance.promotions import request_promotion
from registry.models import Label, ModelVersion, PromptTemplate
from tests.governance.run_builders import make_run, new_prompt, prompt_author, summary


@pytest.mark.django_db(transaction=True)
def test_ml_lead_approves_a_tier2_request_in_the_admin(
    roles_present: None,
    browser: Any,
    live_server: Any,
    production: Label,
    template: PromptTemplate,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    ml_lead: User,
    senior: User,
) -> None:
    make_run(production.prompt_version, model_v1, snapshot, summary(0.7))
    run = make_run(
        new_prompt(template, prompt_author(), "v2"), model_v1, snapshot, summary(0.8)
    )
    request = request_promotion(
        template=template,
        prompt_version=run.prompt_version,
        model_version=model_v1,
        candidate_run=run,
        rationale="v2 wins",
        requested_by=senior,
    )
    page = browser.new_page()
    try:
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "lee")
        page.fill("#id_password", "pw")
        page.click("input[type=submit]")
        page.goto(f"{live_server.url}/admin/governance/promotionrequest/")
        page.click(f"a[href$='/promotionrequest/{request.pk}/review/']")
        assert "domain:music" in page.inner_text("#segments")
        page.fill("#id_comment", "approved in the browser")
        page.click("#approve-button")
        page.wait_for_selector("#release-notes")
        assert page.inner_text("#request-status") == "promoted"
        assert "lee (ml_lead)" in page.inner_text("#release-notes")
    finally:
        page.close()
    label = Label.objects.get(template=template, name="production")
    assert label.prompt_version == run.prompt_version
    approval = request.approvals.get()
    assert (approval.approver, approval.comment) == (ml_lead, "approved in the browser")
