"""A full review in the admin workspace, in headless Chromium: by clicks, then by
keyboard. Screenshots of each page go to /tmp/shots/ (not committed)."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from feedback.models import ReviewItem

SHOTS = Path("/tmp/shots")  # noqa: S108 (for people to look at; never read back)
OLDER = "SELECT count(*) FROM singer WHERE age > 40"


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def signed_in(browser: Any, live_server: Any, username: str) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    return page


@pytest.mark.django_db(transaction=True)
def test_claim_compare_and_approve_by_clicks(
    browser: Any,
    live_server: Any,
    correct: Callable[..., ReviewItem],
    senior: User,
    purge_events: None,
) -> None:
    low = correct(task_type="quiet", question="Singers older than forty?", sql=OLDER)
    top = correct(task_type="busy", question="How many singers over 30?")
    correct(task_type="busy", question="Singers past thirty?")
    page = signed_in(browser, live_server, "sam")
    try:
        page.goto(f"{live_server.url}/admin/feedback/reviewitem/")
        rows = page.locator("#result_list tbody tr")
        assert "How many singers over 30?" in rows.nth(0).inner_text()
        assert "Singers older than forty?" in rows.nth(2).inner_text()
        shot(page, "workspace-list")
        page.click(f"#result_list a[href$='/reviewitem/{top.pk}/change/']")
        page.wait_for_selector("#results")
        assert "How many singers over 30?" in page.inner_text("#question")
        assert "WHERE age > 30" in page.inner_text("#sql-diff ins")
        generated = page.inner_text("#result-generated")
        corrected = page.inner_text("#result-corrected")
        assert "1 row" in generated and "6" in generated
        assert "1 row" in corrected and "4" in corrected
        shot(page, "workspace-item-pending")
        page.click("#claim-button")
        page.wait_for_selector("#approve-button")
        assert page.inner_text("#item-state") == "claimed"
        assert "claim recorded" in page.inner_text(".messagelist")
        shot(page, "workspace-item-claimed")
        page.click("#approve-button")
        page.wait_for_selector("#decision")
        assert page.inner_text("#item-state") == "approved"
        assert page.locator("#actions").count() == 0
        shot(page, "workspace-item-approved")
    finally:
        page.close()
    assert ReviewItem.objects.get(pk=top.pk).state == "approved"
    assert ReviewItem.objects.get(pk=low.pk).state == "pending"


@pytest.mark.django_db(transaction=True)
def test_review_two_items_by_keyboard(
    browser: Any,
    live_server: Any,
    correct: Callable[..., ReviewItem],
    senior: User,
    purge_events: None,
) -> None:
    first = correct(task_type="busy", question="How many singers over 30?")
    second = correct(task_type="busy", question="Singers past thirty?")
    page = signed_in(browser, live_server, "sam")
    try:
        page.goto(f"{live_server.url}/admin/feedback/reviewitem/{first.pk}/change/")
        page.wait_for_selector("#results")
        page.keyboard.press("?")
        assert page.is_visible("#shortcut-help")
        shot(page, "workspace-keyboard-help")
        page.keyboard.press("j")
        page.wait_for_url(f"**/reviewitem/{second.pk}/change/")
        page.keyboard.press("k")
        page.wait_for_url(f"**/reviewitem/{first.pk}/change/")
        page.keyboard.press("c")
        page.wait_for_selector("#approve-button")
        page.keyboard.press("a")
        page.wait_for_selector("#decision")
        assert page.inner_text("#item-state") == "approved"
        # Decided: `j` leads to the first pending item, the second one.
        page.keyboard.press("j")
        page.wait_for_url(f"**/reviewitem/{second.pk}/change/")
        page.keyboard.press("c")
        page.wait_for_selector("#reject-button")
        page.keyboard.press("r")
        assert page.evaluate("document.activeElement.id") == "id_reason"
        page.keyboard.type("duplicate of an approved answer")
        shot(page, "workspace-keyboard-reason")
        page.keyboard.press("Control+Enter")
        page.wait_for_selector("#decision")
        assert page.inner_text("#item-state") == "rejected"
        shot(page, "workspace-keyboard-rejected")
    finally:
        page.close()
    assert ReviewItem.objects.get(pk=first.pk).state == "approved"
    rejected = ReviewItem.objects.get(pk=second.pk)
    assert rejected.decision_reason == "duplicate of an approved answer"


@pytest.mark.django_db(transaction=True)
def test_escalate_by_keyboard_then_adjudicate_side_by_side(
    browser: Any,
    live_server: Any,
    correct: Callable[..., ReviewItem],
    senior: User,
    senior2: User,
    purge_events: None,
) -> None:
    first = correct(question="Singers over 30?")
    second = correct(question="Singers over 30?", sql=OLDER)
    page = signed_in(browser, live_server, "sam")
    try:
        page.goto(f"{live_server.url}/admin/feedback/reviewitem/{first.pk}/change/")
        page.keyboard.press("c")
        page.wait_for_selector("#escalate-button")
        page.keyboard.press("e")
        page.keyboard.type("the two corrections disagree")
        page.keyboard.press("Control+Enter")
        page.wait_for_selector("#adjudication")
        assert page.inner_text("#item-state") == "adjudication"
    finally:
        page.close()
    page = signed_in(browser, live_server, "sue")
    try:
        page.goto(f"{live_server.url}/admin/feedback/reviewitem/{first.pk}/change/")
        this, other = (
            page.inner_text("#adjudication-this"),
            page.inner_text("#adjudication-other"),
        )
        assert "age > 30" in this and "4" in this
        assert f"#{second.pk}" in other and "age > 40" in other and "3" in other
        assert "the two corrections disagree" in page.inner_text("#adjudication")
        shot(page, "workspace-adjudication")
        page.click("#approve-button")
        page.wait_for_selector("#decision")
        assert page.inner_text("#item-state") == "approved"
    finally:
        page.close()
    assert ReviewItem.objects.get(pk=first.pk).decided_by == senior2
