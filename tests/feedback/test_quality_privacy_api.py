"""API of review quality and privacy: permissions, errors by field, results."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from feedback import calibration, services
from feedback.models import PrivacyRequest, ReviewItem

pytestmark = pytest.mark.django_db
API = "/api/v1/feedback"


@pytest.fixture
def officer(make_user: Callable[..., User]) -> User:
    return make_user("pia", "privacy_officer")


def test_privacy_officers_file_requests_others_cannot(
    client_as: Callable[[User], APIClient],
    api_client: APIClient,
    officer: User,
    senior: User,
    auditor: User,
    correct: Callable,
) -> None:
    body = {"kind": "revocation", "user_id": "user-17"}
    assert api_client.post(f"{API}/privacy-requests/", body, "json").status_code in (
        401,
        403,
    )
    assert (
        client_as(senior).post(f"{API}/privacy-requests/", body, "json").status_code
        == 403
    )
    assert client_as(senior).get(f"{API}/privacy-requests/").status_code == 403
    client = client_as(officer)
    bad = client.post(
        f"{API}/privacy-requests/",
        {"kind": "shred", "user_id": ["x"], "effective_at": "soon"},
        "json",
    )
    assert bad.status_code == 400
    errors = bad.json()
    assert "kind" in str(errors) and "user_id" in str(errors)
    assert "effective_at" in str(errors)
    future = client.post(
        f"{API}/privacy-requests/",
        {**body, "effective_at": "2999-01-01T00:00:00Z"},
        "json",
    )
    assert future.status_code == 400
    assert "effective_at" in str(future.json())
    correct()  # user-17 asked a question and corrected it
    created = client.post(f"{API}/privacy-requests/", body, "json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["status"] == "completed"
    assert data["subject_pseudonym"].startswith("p_")
    assert "user-17" not in str(data)
    assert data["result"]["revocation"]["review_items_closed"] == [
        ReviewItem.objects.get().pk
    ]
    listed = client_as(auditor).get(f"{API}/privacy-requests/")
    assert listed.status_code == 200
    assert listed.json()["count"] == 1
    detail = client_as(auditor).get(f"{API}/privacy-requests/{data['id']}/")
    assert detail.json()["kind"] == "revocation"
    assert (
        client_as(auditor).post(f"{API}/privacy-requests/", body, "json").status_code
        == 403
    )
    assert PrivacyRequest.objects.count() == 1


def test_guidelines_are_published_by_ml_leads_and_read_by_reviewers(
    client_as: Callable[[User], APIClient], ml_lead: User, senior: User
) -> None:
    body = {"text": "Approve only SQL that runs and answers the question."}
    assert client_as(senior).post(f"{API}/guidelines/", body, "json").status_code == 403
    lead = client_as(ml_lead)
    assert lead.post(f"{API}/guidelines/", {"text": ""}, "json").status_code == 400
    past = lead.post(
        f"{API}/guidelines/", {**body, "effective_at": "2001-01-01T00:00:00Z"}, "json"
    )
    assert past.status_code == 400 and "effective_at" in str(past.json())
    created = lead.post(f"{API}/guidelines/", body, "json")
    assert created.status_code == 201
    assert (created.json()["number"], created.json()["author"]) == (1, "lee")
    listed = client_as(senior).get(f"{API}/guidelines/")
    assert [v["number"] for v in listed.json()["results"]] == [1]
    one = client_as(senior).get(f"{API}/guidelines/{created.json()['id']}/")
    assert one.json()["text"] == body["text"]


def test_blind_verdicts_through_the_api_hide_the_first_until_both_are_in(
    client_as: Callable[[User], APIClient],
    settings: Any,
    correct: Callable,
    senior: User,
    senior2: User,
    auditor: User,
) -> None:
    settings.DOUBLE_REVIEW_SHARE = 1.0
    item = correct()
    first = client_as(senior).post(
        f"{API}/review-items/{item.pk}/verdict/", {"verdict": "approve"}, "json"
    )
    assert first.status_code == 200
    assert first.json()["verdicts"] == []
    assert first.json()["double_review"] is True
    seen = client_as(senior2).get(f"{API}/review-items/{item.pk}/")
    assert seen.json()["verdicts"] == []
    bad = client_as(senior2).post(
        f"{API}/review-items/{item.pk}/verdict/", {"verdict": "maybe"}, "json"
    )
    assert bad.status_code == 400 and "verdict" in bad.json()
    no_reason = client_as(senior2).post(
        f"{API}/review-items/{item.pk}/verdict/", {"verdict": "reject"}, "json"
    )
    assert no_reason.status_code == 400
    second = client_as(senior2).post(
        f"{API}/review-items/{item.pk}/verdict/",
        {"verdict": "reject", "reason": "wrong filter"},
        "json",
    )
    assert second.json()["state"] == "adjudication"
    assert [v["reviewer"] for v in second.json()["verdicts"]] == ["sam", "sue"]
    report = client_as(auditor).get(f"{API}/quality/agreement/?period=week")
    assert report.status_code == 200
    body = report.json()
    assert body["periods"][0]["pairs"] == 1
    assert body["adjudication"]["target"] == 0.95
    assert body["adjudication"]["settled_items"] == 0
    assert (
        client_as(auditor).get(f"{API}/quality/agreement/?period=year").status_code
        == 400
    )
    assert (
        client_as(auditor)
        .post(f"{API}/review-items/{item.pk}/verdict/", {"verdict": "approve"}, "json")
        .status_code
        == 403
    )


def test_calibration_api_shows_items_blind_then_the_agreement(
    client_as: Callable[[User], APIClient],
    correct: Callable,
    senior: User,
    senior2: User,
    ml_lead: User,
) -> None:
    known = correct()
    services.claim_review_item(item=known, acting_user=senior)
    services.reject_review_item(item=known, acting_user=senior, reason="wrong")
    entry = calibration.add_calibration_item(item=known, acting_user=ml_lead)
    live = correct(question="Another question?")
    client = client_as(senior2)
    claimed = client.post(f"{API}/review-items/{live.pk}/claim/")
    assert claimed.status_code == 403
    assert "calibration" in str(claimed.json())
    status = client.get(f"{API}/calibration/").json()
    assert status["remaining"] == 1
    [shown] = status["items"]
    assert shown["id"] == entry.pk and "expected" not in shown
    assert shown["question"] == "Singers over 30?"
    bad = client.post(f"{API}/calibration/{entry.pk}/answer/", {"verdict": "x"}, "json")
    assert bad.status_code == 400
    answered = client.post(
        f"{API}/calibration/{entry.pk}/answer/", {"verdict": "reject"}, "json"
    )
    assert answered.status_code == 201
    assert (answered.json()["agreement"], answered.json()["calibrated"]) == (1.0, True)
    again = client.post(
        f"{API}/calibration/{entry.pk}/answer/", {"verdict": "reject"}, "json"
    )
    assert again.status_code == 409
    assert client.post(f"{API}/review-items/{live.pk}/claim/").status_code == 200
    assert (
        client.post(
            f"{API}/calibration/999/answer/", {"verdict": "reject"}, "json"
        ).status_code
        == 404
    )
