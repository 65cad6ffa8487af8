"""An ML lead aborts a rollout through the real admin in headless Chromium."""

import os
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from evaluation.models import EvaluationRun
from governance.models import Rollout, RolloutPolicy
from registry.models import Label
from tests.governance.test_rollout import candidate, champion, policy, promote_tier1

__all__ = ["candidate", "champion", "policy"]  # fixtures shared
# Screenshots for people to look at, only when asked for.
SHOTS = os.environ.get("LOOPGATE_SCREENSHOTS", "")


@pytest.mark.django_db(transaction=True)
def test_ml_lead_aborts_a_rollout_from_its_page(
    roles_present: None,
    browser: Any,
    live_server: Any,
    candidate: EvaluationRun,
    policy: RolloutPolicy,
    senior: User,
    ml_lead: User,
) -> None:
    rollout = Rollout.objects.get(request=promote_tier1(candidate, senior))
    page = browser.new_page()
    try:
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", ml_lead.username)
        page.fill("#id_password", "pw")
        page.click("input[type=submit]")
        page.goto(f"{live_server.url}/admin/governance/rollout/{rollout.pk}/change/")
        text = page.inner_text("#content")
        assert f"v{rollout.prompt_version.number} · model" in text
        assert "limited\t25%" in text or "limited 25%" in text
        if SHOTS:
            page.screenshot(path=str(Path(SHOTS) / "rollout_abort.png"), full_page=True)
        page.click("#abort-link")
        page.fill("#id_reason", "pager fired in the browser")
        page.click("#abort-submit")
        page.wait_for_selector("text=traffic is back on production")
        assert "Aborted by a person" in page.inner_text("#content")
        assert page.query_selector("#abort-link") is None
    finally:
        page.close()
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.ABORTED
    rolling = Label.objects.get(template=rollout.template, name="rollout")
    assert str(rolling.traffic_share) == "0.0000"
