"""The stakeholder dashboard in headless Chromium, on demo-like history."""

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.portal.dashboard_data import History
from tests.portal.test_dashboard import history, traffic  # noqa: F401 (fixtures)

SHOTS = Path("/work/shots/dashboard")
PANELS = (
    "#accuracy-chart",
    "#interactions-chart",
    "#negative-chart",
    "#corrections-chart",
    "#online-negative-rate-chart",
    "#online-success-rate-chart",
    "#online-latency-p95-ms-chart",
)


def values(page: Any) -> list[float]:
    found = page.locator("#accuracy-chart circle.point").evaluate_all(
        "els => els.map(e => e.getAttribute('data-value'))"
    )
    return sorted(float(v) for v in found)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_dashboard_panels_metric_switch_and_promotion_link_in_chromium(
    browser: Any,
    live_server: Any,
    auditor: User,
    traffic: History,  # noqa: F811 (fixture)
    purge_events: None,
) -> None:
    client = Client()
    client.force_login(auditor)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/evaluation/dashboard/?template=concerts&days=28")
        page.wait_for_selector("#accuracy-chart circle.point")
        for panel in PANELS:
            box = page.locator(panel).bounding_box()
            assert box is not None and box["width"] > 600, panel
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "dashboard-full.png"), full_page=True)
        page.locator("#accuracy").screenshot(path=str(SHOTS / "accuracy.png"))
        page.locator("#online").screenshot(path=str(SHOTS / "online.png"))
        page.locator("#production").screenshot(path=str(SHOTS / "production.png"))

        # Execution accuracy is the default; the switch redraws with exact match.
        ex = values(page)
        assert ex == pytest.approx(sorted([0.60, 0.625, 0.65, 0.75, 0.775]))
        page.click("#metric-switch a[data-metric=exact_match]")
        page.wait_for_url("**metric=exact_match**")
        page.wait_for_selector("#accuracy-chart circle.point")
        assert values(page) == pytest.approx([v / 2 for v in ex])
        current = page.locator("#metric-switch a[aria-current]")
        assert current.inner_text() == "exact match (EM)"

        # The promotion marker opens the promotion's review page.
        marker = page.locator("#accuracy-chart g.marker.promotion a")
        assert marker.count() == 1
        assert f"#{traffic.promotion.pk}" in (marker.text_content() or "")
        marker.locator("rect.hit").click()
        page.wait_for_url(
            f"**/promotionrequest/{traffic.promotion.pk}/review/", timeout=10_000
        )
        assert f"#{traffic.promotion.pk}" in page.inner_text("#content")
    finally:
        context.close()
