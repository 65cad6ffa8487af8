"""A tier-2 approval driven through the real admin in headless Chromium: it
starts the staged rollout, linked from the request."""

import os
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from evaluation.models import GoldenSetSnapshot
from governance.promotions import request_promotion
from registry.models import Label, ModelVersion, PromptTemplate
from tests.governance.run_builders import make_run, new_prompt, prompt_author, summary

# Screenshots for people to look at, only when asked for.
SHOTS = os.environ.get("LOOPGATE_SCREENSHOTS", "")


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
        page.wait_for_selector("#rollout-link")
        assert page.inner_text("#request-status") == "rolling"
        page.click("#rollout-link")
        page.wait_for_selector("text=Online gates (last check)")
        text = page.inner_text("#content")
        assert "pilot (1/3)" in text and "not checked yet" in text
        if SHOTS:
            page.screenshot(path=str(Path(SHOTS) / "rollout.png"), full_page=True)
    finally:
        page.close()
    # Production waits for the rollout's last stage; the rollout label serves 5%.
    label = Label.objects.get(template=template, name="production")
    assert label.prompt_version == production.prompt_version
    rolling = Label.objects.get(template=template, name="rollout")
    assert rolling.prompt_version == run.prompt_version
    assert str(rolling.traffic_share) == "0.0500"
    approval = request.approvals.get()
    assert (approval.approver, approval.comment) == (ml_lead, "approved in the browser")
