"""Admin of review quality and privacy: forms through services, report page."""

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from evaluation.runs.charts import Point, Series, line_chart
from feedback import double_review, guidelines
from feedback.models import (
    CalibrationItem,
    GuidelineVersion,
    PrivacyRequest,
    ReviewItem,
)

pytestmark = pytest.mark.django_db
ADMIN = "/admin/feedback"


def test_privacy_officers_file_requests_in_the_admin(
    client: Client, make_user: Callable[..., User], correct: Callable
) -> None:
    officer = make_user("pia", "privacy_officer", is_staff=True)
    client.force_login(officer)
    correct()
    page = client.get(f"{ADMIN}/privacyrequest/add/")
    assert page.status_code == 200 and b"user_id" in page.content
    future = (timezone.now() + dt.timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")
    refused = client.post(
        f"{ADMIN}/privacyrequest/add/",
        {"kind": "revocation", "user_id": "user-17", "withdrawn_at": future},
    )
    assert refused.status_code == 200
    assert b"not in the future" in refused.content
    retention = client.post(
        f"{ADMIN}/privacyrequest/add/", {"kind": "retention", "user_id": "user-17"}
    )
    assert retention.status_code == 200
    assert not PrivacyRequest.objects.exists()
    done = client.post(
        f"{ADMIN}/privacyrequest/add/",
        {"kind": "revocation", "user_id": "user-17", "reference": "T-9"},
    )
    assert done.status_code == 302
    request = PrivacyRequest.objects.get()
    assert (request.status, request.requested_by, request.reference) == (
        "completed",
        officer,
        "T-9",
    )
    assert ReviewItem.objects.get().state == "rejected"
    shown = client.get(f"{ADMIN}/privacyrequest/{request.pk}/change/")
    assert b'name="_save"' not in shown.content
    assert b"user-17" not in shown.content


def test_ml_leads_publish_guidelines_in_the_admin(
    client: Client, make_user: Callable[..., User]
) -> None:
    lead = make_user("lea", "ml_lead", is_staff=True)
    client.force_login(lead)
    past = client.post(
        f"{ADMIN}/guidelineversion/add/",
        {
            "text": "Old rules",
            "effective_at_0": "2001-01-01",
            "effective_at_1": "00:00",
        },
    )
    assert past.status_code == 200 and b"now or later" in past.content
    now = timezone.localtime() + dt.timedelta(minutes=1)
    added = client.post(
        f"{ADMIN}/guidelineversion/add/",
        {
            "text": "Approve SQL that answers the question.",
            "effective_at_0": now.strftime("%Y-%m-%d"),
            "effective_at_1": now.strftime("%H:%M:%S"),
        },
    )
    assert added.status_code == 302
    version = GuidelineVersion.objects.get()
    assert (version.number, version.author) == (1, lead)
    page = client.get(f"{ADMIN}/guidelineversion/{version.pk}/change/")
    assert b'name="_save"' not in page.content


def test_blind_verdicts_and_calibration_from_the_review_list(
    client: Client,
    settings: Any,
    correct: Callable,
    senior: User,
    senior2: User,
    make_user: Callable[..., User],
) -> None:
    settings.DOUBLE_REVIEW_SHARE = 1.0
    item = correct()
    for user in (senior, senior2):
        client.force_login(user)
        client.post(
            f"{ADMIN}/reviewitem/",
            {"action": "verdict_approve", "_selected_action": [item.pk]},
        )
    item.refresh_from_db()
    assert (item.state, item.decided_by) == ("approved", senior2)
    lead = make_user("lea", "ml_lead", is_staff=True)
    client.force_login(lead)
    client.post(
        f"{ADMIN}/reviewitem/",
        {"action": "add_to_calibration", "_selected_action": [item.pk]},
    )
    assert CalibrationItem.objects.get().expected == "approve"


def test_the_quality_report_page_marks_guideline_changes(
    client: Client,
    settings: Any,
    correct: Callable,
    senior: User,
    senior2: User,
    auditor: User,
    analyst: User,
    ml_lead: User,
) -> None:
    settings.DOUBLE_REVIEW_SHARE = 1.0
    guidelines.publish_guideline_version(text="v1", author=ml_lead)
    for index, verdict in enumerate(("approve", "reject")):
        item = correct(question=f"Question {index}?")
        double_review.submit_verdict(
            item=item, acting_user=senior, verdict=verdict, reason="r"
        )
        double_review.submit_verdict(
            item=item, acting_user=senior2, verdict=verdict, reason="r"
        )
    client.force_login(auditor)
    page = client.get(f"{ADMIN}/reviewitem/quality/?period=week")
    assert page.status_code == 200
    body = page.content.decode()
    assert "100%</strong> of 4 blind verdicts" in body
    assert 'id="periods"' in body and "<td>2</td>" in body
    assert "guidelines v1" in body
    assert client.get(f"{ADMIN}/reviewitem/quality/?period=day").status_code == 400
    analyst.is_staff = True
    analyst.save()
    client.force_login(analyst)
    assert client.get(f"{ADMIN}/reviewitem/quality/").status_code == 403


def test_line_chart_marks_moments_inside_its_span_only() -> None:
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    series = [
        Series("a", [Point(t0, 0.5, "x"), Point(t0 + dt.timedelta(days=10), 0.7, "y")])
    ]
    svg = line_chart(
        series,
        title="t",
        y_label="y",
        markers=[
            (t0 + dt.timedelta(days=5), "guidelines v2"),
            (t0 + dt.timedelta(days=50), "guidelines v3"),
        ],
    )
    assert 'data-label="guidelines v2"' in svg
    assert "guidelines v3" not in svg
