"""Feedback categories: sent by clients, re-categorized by reviewers, counted."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from audit.models import AuditEvent
from feedback import selectors
from feedback.categorization import recategorize_feedback
from feedback.exceptions import FeedbackError, ReviewConflictError
from feedback.models import Feedback, FeedbackTopic

pytestmark = pytest.mark.django_db
Build = Callable[..., dict[str, Any]]
API = "/api/v1/feedback"


@pytest.fixture
def thumbs(interaction_event: Build, feedback_event: Build, ingest: Callable) -> Any:
    def make(type_: str = "thumbs_down", topic: str | None = None) -> Feedback:
        event = interaction_event()
        extra = {"topic": topic} if topic else {}
        signal = feedback_event(event["event_id"], type=type_, **extra)
        results = ingest(event, signal)
        assert [r.status for r in results] == ["created", "created"], results
        return Feedback.objects.get(pk=signal["event_id"])

    return make


def test_a_client_category_is_stored_with_its_taxonomy_version(thumbs: Any) -> None:
    feedback = thumbs(topic="slow")
    row = FeedbackTopic.objects.get(feedback=feedback)
    assert (row.topic, row.source, row.taxonomy_version) == (
        "slow",
        "client",
        "feedback-categories/2",
    )


def test_a_thumbs_down_or_comment_may_say_the_answer_was_unsafe(
    thumbs: Any, interaction_event: Build, feedback_event: Build, ingest: Callable
) -> None:
    down = thumbs(topic="safety")
    event = interaction_event()
    comment = feedback_event(
        event["event_id"], type="comment", comment="It showed salaries", topic="safety"
    )
    assert [r.status for r in ingest(event, comment)] == ["created", "created"]
    for feedback in (down, Feedback.objects.get(pk=comment["event_id"])):
        row = FeedbackTopic.objects.get(feedback=feedback)
        assert (row.topic, row.taxonomy_version) == ("safety", "feedback-categories/2")
    # Unsafe is not wrong: the negative-feedback rate leaves it out.
    assert not selectors.wrong_answer_feedback().filter(pk=down.pk).exists()


@pytest.mark.parametrize(
    ("type_", "topic", "message"),
    [
        ("thumbs_down", "praise", "thumbs_down feedback takes one of"),
        ("thumbs_up", "wrong_answer", "thumbs_up feedback takes one of"),
        ("thumbs_up", "safety", "thumbs_up feedback takes one of"),
        ("correction", "safety", "correction feedback takes one of"),
        ("retried", "slow", "retried feedback carries no category"),
        ("thumbs_down", "rude", "Must be one of"),
        ("thumbs_down", 7, "Must be a string"),
    ],
)
def test_a_category_that_does_not_fit_is_a_400_naming_the_field(
    interaction_event: Build,
    feedback_event: Build,
    ingest: Callable,
    type_: str,
    topic: object,
    message: str,
) -> None:
    event = interaction_event()
    good = feedback_event(event["event_id"], type="thumbs_up")
    bad = feedback_event(event["event_id"], type=type_, topic=topic)
    results = ingest(event, bad, good)
    assert results[1].status == "invalid"
    assert message in results[1].errors["topic"][0]
    # One bad item never costs its neighbours.
    assert [results[0].status, results[2].status] == ["created", "created"]
    assert not FeedbackTopic.objects.exists()


def test_events_without_a_category_replay_with_their_stored_print(
    interaction_event: Build, feedback_event: Build, ingest: Callable
) -> None:
    event = interaction_event()
    signal = feedback_event(event["event_id"])
    ingest(event, signal)
    assert ingest(signal)[0].status == "duplicate"
    assert ingest({**signal, "topic": "slow"})[0].status == "conflict"


def test_a_reviewer_recategorizes_on_record(thumbs: Any, make_user: Callable) -> None:
    feedback = thumbs(topic="slow")
    reviewer = make_user("rita", "senior_analyst")
    row = recategorize_feedback(
        feedback=feedback,
        topic="wrong_answer",
        acting_user=reviewer,
        reason="SQL wrong",
    )
    assert (row.previous_topic, row.source, row.assigned_by) == (
        "slow",
        "reviewer",
        reviewer,
    )
    assert FeedbackTopic.objects.filter(feedback=feedback).count() == 2
    event = AuditEvent.objects.get(event_type="feedback.feedback.recategorized")
    assert event.data["from"] == "slow" and event.data["to"] == "wrong_answer"
    with pytest.raises(ReviewConflictError):
        recategorize_feedback(
            feedback=feedback, topic="wrong_answer", acting_user=reviewer, reason="x"
        )
    with pytest.raises(FeedbackError) as blank:
        recategorize_feedback(
            feedback=feedback, topic="slow", acting_user=reviewer, reason="  "
        )
    assert blank.value.field == "reason"


def test_recategorize_api_guards_and_records(
    thumbs: Any, make_user: Callable, analyst: User
) -> None:
    feedback = thumbs()
    url = f"{API}/feedback/{feedback.pk}/categorize/"
    client = APIClient()
    assert client.post(url, {}, format="json").status_code == 401
    client.force_authenticate(analyst)
    assert client.post(url, {"topic": "slow", "reason": "x"}).status_code == 403
    client.force_authenticate(make_user("rita", "senior_analyst"))
    missing = f"{API}/feedback/00000000-0000-0000-0000-000000000000/categorize/"
    assert client.post(missing, {"topic": "slow", "reason": "x"}).status_code == 404
    bad = client.post(url, {"topic": "praise", "reason": "x"}, format="json")
    assert bad.status_code == 400 and "praise" not in bad.json()["topic"][0]
    response = client.post(url, {"topic": "slow", "reason": "slow"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["topic"] == "slow"
    listed = client.get(f"{API}/feedback/").json()["results"]
    assert [row["topic"] for row in listed] == ["slow"]


def test_counts_by_category_and_what_the_trigger_counts(
    thumbs: Any, make_user: Callable
) -> None:
    thumbs(topic="slow")
    thumbs(topic="wrong_answer")
    thumbs()  # uncategorized: still a wrong-answer signal
    thumbs("thumbs_up", topic="praise")
    counts = selectors.feedback_topic_counts()
    assert counts["by_topic"]["slow"] == {"total": 1, "by_type": {"thumbs_down": 1}}
    assert counts["by_topic"]["praise"]["total"] == 1
    assert counts["by_topic"]["uncategorized"]["total"] == 1
    assert counts["negative_signals"] == 3
    assert counts["wrong_answer_signals"] == 2
    client = APIClient()
    client.force_authenticate(make_user("aud", "auditor"))
    body = client.get(f"{API}/categories/", {"template": "concerts"}).json()
    assert body["taxonomy_version"] == "feedback-categories/2"
    assert body["by_topic"]["wrong_answer"]["total"] == 1
    assert client.get(f"{API}/categories/", {"template": "nope"}).status_code == 404
    assert client.get(f"{API}/categories/", {"start": "soon"}).status_code == 400
