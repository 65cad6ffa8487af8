"""Three roles' homes in headless Chromium: each finds what waits for them."""

from typing import Any

import pytest
from django.contrib.auth.models import User

from governance.models import PromotionRequest
from tests.portal.conftest import Queue


def open_home(browser: Any, live_server: Any, username: str) -> Any:
    """Log in through the admin form from `/` and land back on the home page."""
    page = browser.new_page()
    page.goto(f"{live_server.url}/")
    assert "/admin/login/" in page.url
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#accuracy")
    assert page.url == f"{live_server.url}/"
    return page


@pytest.mark.django_db(transaction=True)
def test_three_roles_find_their_work_on_the_home_page(
    browser: Any,
    live_server: Any,
    queue: Queue,
    tier2_request: PromotionRequest,
    senior: User,
    ml_lead: User,
    auditor: User,
    purge_events: None,
) -> None:
    page = open_home(browser, live_server, "sen")
    try:
        assert "sen · senior_analyst" in page.inner_text("#whoami")
        assert "How many singers over 30?" in page.inner_text("#review-mine")
        assert "Count singers past 30" in page.inner_text("#review-adjudication")
        assert "Singers older than thirty?" in page.inner_text("#review-pending")
        assert page.locator("#approvals").count() == 0
        page.click(
            f"#review-adjudication a[href$='/reviewitem/{queue.escalated.pk}/change/']"
        )
        page.wait_for_selector("#content")
        assert f"/admin/feedback/reviewitem/{queue.escalated.pk}/change/" in page.url
    finally:
        page.close()

    page = open_home(browser, live_server, "lee")
    try:
        row = page.inner_text("#approvals-table")
        assert "concerts" in row and "ml_lead" in row
        failed = [g["name"] for g in tier2_request.gates if not g["passed"]]
        assert failed and all(name in row for name in failed)
        page.click(f"a[href$='/promotionrequest/{tier2_request.pk}/review/']")
        page.wait_for_selector("#segments")
        # Back home, then into the admin and home again through its header.
        page.goto(f"{live_server.url}/admin/")
        assert "Loopgate" in page.inner_text("#site-name")
        page.click("#home-link")
        page.wait_for_selector("#accuracy")
        assert "75.0%" in page.inner_text("#accuracy-table")
    finally:
        page.close()

    page = open_home(browser, live_server, "aud")
    try:
        assert "Verified: 1 entries" in page.inner_text("#log-status")
        assert f"#{tier2_request.decision.sequence}" in page.inner_text(
            "#decisions-table"
        )
        assert page.locator("#review").count() == 0
        page.click("text=Dashboard")
        page.wait_for_load_state()
        assert page.url.endswith("/evaluation/dashboard/")
    finally:
        page.close()
