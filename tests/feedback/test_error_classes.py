"""Error classes stored with corrections and golden examples, and their trend."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from evaluation.error_taxonomy import CLASSIFIER_VERSION
from feedback import services
from feedback.error_classes import error_class_trend, reclassify_review_items
from feedback.models import ReviewItem
from registry.models import PromptTemplate

pytestmark = pytest.mark.django_db
Build = Callable[..., dict[str, Any]]
GENERATED = "SELECT count(*) FROM singer"


@pytest.fixture
def correct(
    interaction_event: Build,
    feedback_event: Build,
    ingest: Callable,
    django_capture_on_commit_callbacks: Callable,
) -> Callable[..., ReviewItem]:
    def make(sql: str, question: str = "Singers over 30?") -> ReviewItem:
        event = interaction_event(question=question, generated_sql=GENERATED)
        signal = feedback_event(event["event_id"], type="correction", corrected_sql=sql)
        with django_capture_on_commit_callbacks(execute=True):
            ingest(event, signal)
        return ReviewItem.objects.get(feedback_id=signal["event_id"])

    return make


def test_the_check_classifies_a_new_correction(correct: Callable) -> None:
    item = correct("SELECT count(*) FROM singer WHERE age > 30")
    assert item.error_taxonomy["classes"] == ["wrong_filter"]
    assert item.error_taxonomy["version"] == CLASSIFIER_VERSION
    assert item.error_taxonomy["segment"] == "easy"
    assert item.error_taxonomy["details"]["wrong_filter"] == [
        "WHERE: missing condition age > 30"
    ]


def test_approval_classifies_the_approved_sql_and_the_golden_keeps_it(
    correct: Callable, senior: User
) -> None:
    item = correct("SELECT count(*) FROM singer WHERE age > 30")
    services.claim_review_item(item=item, acting_user=senior)
    item = services.approve_review_item(
        item=item, acting_user=senior, sql="SELECT count(*) FROM concert"
    )
    assert item.error_taxonomy["classes"] == ["wrong_table"]
    assert item.golden_example is not None
    assert item.golden_example.error_taxonomy == item.error_taxonomy


def test_reclassify_brings_old_versions_up_to_date_on_record(
    correct: Callable,
) -> None:
    item = correct("SELECT count(*) FROM singer WHERE age > 30")
    item.error_taxonomy = {"version": "sql-errors/0", "classes": ["other"]}
    item.save(update_fields=["error_taxonomy"])
    assert reclassify_review_items(acting_user=None) == 1
    item.refresh_from_db()
    assert item.error_taxonomy["classes"] == ["wrong_filter"]
    event = AuditEvent.objects.get(event_type="feedback.review_item.reclassified")
    assert event.data["from"] == {"version": "sql-errors/0", "classes": ["other"]}
    assert reclassify_review_items(acting_user=None) == 0


def test_the_trend_counts_classes_per_period_and_segment(
    correct: Callable, template: PromptTemplate
) -> None:
    now = timezone.now()
    for weeks_ago in (3, 2, 1, 0):
        for sql in (
            "SELECT count(*) FROM singer WHERE age > 30",
            "SELECT count(*) FROM concert",
        ):
            item = correct(sql, question=f"q {weeks_ago} {sql}")
            ReviewItem.objects.filter(pk=item.pk).update(
                created_at=now - timedelta(days=7 * weeks_ago + 1)
            )
    rejected = correct("SELECT 1", question="rejected")
    ReviewItem.objects.filter(pk=rejected.pk).update(state="rejected")
    trend = error_class_trend(template=template, end=now, period_days=7, periods=4)
    assert [p["corrections"] for p in trend["periods"]] == [2, 2, 2, 2]
    assert trend["classes"]["wrong_filter"]["stable"] is True
    assert trend["classes"]["wrong_filter"]["shares"] == [0.5, 0.5, 0.5, 0.5]
    assert trend["drift"] == 0.0
    assert trend["classifier_versions"] == {CLASSIFIER_VERSION: 8}
    assert trend["by_segment"]["easy"][0] == {"wrong_filter": 1, "wrong_table": 1}


def test_the_trend_api(correct: Callable, make_user: Callable, analyst: User) -> None:
    correct("SELECT count(*) FROM concert")
    client = APIClient()
    url = "/api/v1/feedback/error-classes/"
    assert client.get(url, {"template": "concerts"}).status_code == 401
    client.force_authenticate(analyst)
    assert client.get(url, {"template": "concerts"}).status_code == 403
    client.force_authenticate(make_user("aud", "auditor"))
    assert client.get(url).status_code == 400
    assert client.get(url, {"template": "concerts", "periods": 0}).status_code == 400
    assert client.get(url, {"template": "nope"}).status_code == 404
    ancient = client.get(url, {"template": "concerts", "end": "0001-01-02T00:00Z"})
    assert ancient.status_code == 400 and "end" in ancient.json()
    body = client.get(url, {"template": "concerts", "periods": 2}).json()
    assert body["classes"]["wrong_table"]["volume"] == 1


def test_the_command_classifies_what_older_rules_left(correct: Callable) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    item = correct("SELECT count(*) FROM concert")
    item.error_taxonomy = {}
    item.save(update_fields=["error_taxonomy"])
    out = StringIO()
    call_command("classify_corrections", "--template", "concerts", stdout=out)
    assert out.getvalue().startswith(
        f"1 correction(s) classified by {CLASSIFIER_VERSION}"
    )
    item.refresh_from_db()
    assert item.error_taxonomy["classes"] == ["wrong_table"]
    with pytest.raises(CommandError, match="No template"):
        call_command("classify_corrections", "--template", "nope")
