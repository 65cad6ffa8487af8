"""Review queue: state machine, execution gate, disagreements, goldens, ordering."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from audit.models import AuditEvent
from evaluation.models import GoldenExample
from evaluation.services import retire_golden_example
from feedback import selectors, services
from feedback.exceptions import ReviewConflictError, ReviewError
from feedback.models import ReviewItem

pytestmark = pytest.mark.django_db
API = "/api/v1/feedback/review-items"
Build = Callable[..., dict[str, Any]]
GOOD_SQL = "SELECT count(*) FROM singer WHERE age > 30"


def events_for(item: ReviewItem) -> list[str]:
    return list(
        AuditEvent.objects.filter(
            subject_type="feedback.reviewitem", subject_id=str(item.pk)
        )
        .order_by("id")
        .values_list("event_type", flat=True)
    )


def test_claim_then_approve_creates_a_golden_with_provenance(
    correct: Callable, senior: User
) -> None:
    item = correct()
    assert item.check_status == "executed"
    services.claim_review_item(item=item, acting_user=senior)
    item = services.approve_review_item(item=item, acting_user=senior, reason="ok")
    golden = GoldenExample.objects.get()
    assert item.state == "approved"
    assert item.golden_example == golden
    assert golden.source == "review"
    assert golden.sql == GOOD_SQL
    assert golden.question == "Singers over 30?"
    assert golden.target_database.name == "concert_singer"
    assert golden.source_feedback_id == item.feedback_id
    assert golden.source_interaction_id == item.interaction_id
    assert golden.approved_by == senior
    assert golden.approved_at is not None
    assert "task_type:adhoc" in golden.tags
    assert events_for(item) == [
        "feedback.review_item.claimed",
        "feedback.review_item.approved",
    ]
    assert [h.state for h in item.history.order_by("history_id")] == [
        "pending",
        "pending",
        "claimed",
        "approved",
    ]
    retire_golden_example(example=golden, reason="superseded", acting_user=senior)
    golden.refresh_from_db()
    assert golden.retired_at is not None
    assert golden.history.count() == 2


def test_second_claim_is_refused(correct: Callable, senior: User, senior2: User):
    item = correct()
    services.claim_review_item(item=item, acting_user=senior)
    with pytest.raises(ReviewConflictError):
        services.claim_review_item(item=item, acting_user=senior2)


def test_only_the_claimer_decides_a_claimed_item(
    correct: Callable, senior: User, senior2: User
) -> None:
    item = correct()
    with pytest.raises(ReviewConflictError):
        services.approve_review_item(item=item, acting_user=senior)
    services.claim_review_item(item=item, acting_user=senior)
    for action in (services.approve_review_item, services.release_review_item):
        with pytest.raises(ReviewError):
            action(item=item, acting_user=senior2)
    with pytest.raises(ReviewError):
        services.reject_review_item(item=item, acting_user=senior2, reason="no")
    services.release_review_item(item=item, acting_user=senior)
    assert ReviewItem.objects.get().state == "pending"


def test_reject_needs_a_reason_and_redacts_it(correct: Callable, senior: User):
    item = correct()
    services.claim_review_item(item=item, acting_user=senior)
    with pytest.raises(ReviewError) as caught:
        services.reject_review_item(item=item, acting_user=senior, reason="  ")
    assert caught.value.field == "reason"
    item = services.reject_review_item(
        item=item, acting_user=senior, reason="User jo@x.io asked for test data"
    )
    assert item.decision_reason == "User [EMAIL] asked for test data"
    assert AuditEvent.objects.get(
        event_type="feedback.review_item.rejected"
    ).reason == ("User [EMAIL] asked for test data")
    with pytest.raises(ReviewConflictError):
        services.approve_review_item(item=item, acting_user=senior)


def test_approval_requires_the_sql_to_run_on_the_target(
    correct: Callable, senior: User
) -> None:
    item = correct(sql="SELECT missing_column FROM singer")
    assert item.check_status == "failed"
    assert "missing_column" in item.check_error
    services.claim_review_item(item=item, acting_user=senior)
    with pytest.raises(ReviewError) as caught:
        services.approve_review_item(item=item, acting_user=senior)
    assert caught.value.field == "sql"
    assert not GoldenExample.objects.exists()
    item = services.approve_review_item(
        item=item, acting_user=senior, sql="SELECT name FROM singer"
    )
    assert GoldenExample.objects.get().sql == "SELECT name FROM singer"


def test_adjudication_needs_a_second_senior_analyst(
    correct: Callable, senior: User, senior2: User
) -> None:
    item = correct()
    services.claim_review_item(item=item, acting_user=senior)
    with pytest.raises(ReviewError):
        services.escalate_review_item(item=item, acting_user=senior, reason="")
    item = services.escalate_review_item(
        item=item, acting_user=senior, reason="Unsure about the filter"
    )
    assert item.state == "adjudication"
    with pytest.raises(ReviewError):
        services.approve_review_item(item=item, acting_user=senior)
    item = services.approve_review_item(item=item, acting_user=senior2)
    assert item.decided_by == senior2
    assert events_for(item)[-2:] == [
        "feedback.review_item.escalated",
        "feedback.review_item.approved",
    ]


def test_different_results_for_one_question_are_a_disagreement(
    correct: Callable, senior: User, senior2: User
) -> None:
    first = correct(sql="SELECT count(*) FROM singer WHERE age > 30")
    same = correct(sql="SELECT count(*) FROM singer WHERE 30 < age")
    assert not ReviewItem.objects.filter(disagreement=True).exists()
    other = correct(sql="SELECT count(*) FROM singer", question="singers over 30")
    flagged = set(
        ReviewItem.objects.filter(disagreement=True).values_list("pk", flat=True)
    )
    assert flagged == {first.pk, same.pk, other.pk}
    assert events_for(other)[-1] == "feedback.review_item.disagreement_flagged"
    unrelated = correct(sql="SELECT 1", question="Another question")
    assert not ReviewItem.objects.get(pk=unrelated.pk).disagreement
    services.claim_review_item(item=first, acting_user=senior)
    with pytest.raises(ReviewConflictError):
        services.approve_review_item(item=first, acting_user=senior)
    services.escalate_review_item(item=first, acting_user=senior, reason="disagree")
    services.approve_review_item(item=first, acting_user=senior2)
    services.claim_review_item(item=other, acting_user=senior)
    services.escalate_review_item(item=other, acting_user=senior, reason="disagree")
    with pytest.raises(ReviewConflictError):
        services.approve_review_item(item=other, acting_user=senior2)
    services.reject_review_item(item=other, acting_user=senior2, reason="wrong")
    assert GoldenExample.objects.count() == 1


def test_queue_is_ordered_by_expected_impact(
    correct: Callable,
    interaction_event: Build,
    feedback_event: Build,
    ingest: Callable,
) -> None:
    quiet = correct(task_type="rare")
    busy = correct(task_type="daily")
    for _ in range(4):
        event = interaction_event(task_type="daily")
        ingest(event, feedback_event(event["event_id"], type="thumbs_down"))
    ranked = list(selectors.list_review_queue())
    assert [item.pk for item in ranked] == [busy.pk, quiet.pk]
    top = ranked[0]
    assert top.segment_volume == 5
    assert top.negative_rate == 1.0
    assert top.impact == pytest.approx(5 * 1.0 * 0.8)


def test_trust_weight_ranks_items_of_one_segment(
    correct: Callable, interaction_event: Build, feedback_event: Build, ingest: Callable
) -> None:
    analyst_item = correct()
    event = interaction_event(question="Singers over 30?")
    signal = feedback_event(
        event["event_id"],
        type="correction",
        corrected_sql=GOOD_SQL,
        submitter_role="senior_analyst",
    )
    ingest(event, signal)
    senior_item = ReviewItem.objects.get(feedback_id=signal["event_id"])
    assert (analyst_item.weight, senior_item.weight) == (0.8, 1.0)
    ranked = [item.pk for item in selectors.list_review_queue()]
    assert ranked == [senior_item.pk, analyst_item.pk]


def test_api_review_flow_and_permissions(
    correct: Callable,
    analyst: User,
    senior: User,
    senior2: User,
    api_client: APIClient,
    client_as: Callable[[User], APIClient],
) -> None:
    item = correct()
    assert api_client.get(f"{API}/").status_code == 401
    assert client_as(analyst).get(f"{API}/").status_code == 403
    assert client_as(analyst).post(f"{API}/{item.pk}/claim/").status_code == 403
    client = client_as(senior)
    listing = client.get(f"{API}/?state=pending").json()
    assert listing["results"][0]["id"] == item.pk
    assert listing["results"][0]["corrected_sql"] == GOOD_SQL
    assert client.get(f"{API}/?state=nope").status_code == 400
    assert client.post(f"{API}/999999/claim/").status_code == 404
    assert client.post(f"{API}/{item.pk}/claim/").json()["state"] == "claimed"
    assert client.post(f"{API}/{item.pk}/claim/").status_code == 409
    assert client.post(f"{API}/{item.pk}/reject/", {}, "json").status_code == 400
    escalated = client.post(f"{API}/{item.pk}/escalate/", {"reason": "hm"}, "json")
    assert escalated.json()["state"] == "adjudication"
    refused = client.post(f"{API}/{item.pk}/approve/", {}, "json")
    assert refused.status_code == 400
    approved = client_as(senior2).post(
        f"{API}/{item.pk}/approve/", {"reason": "fine"}, "json"
    )
    assert approved.status_code == 200
    assert approved.json()["golden_example"] == GoldenExample.objects.get().pk


def test_review_list_query_count_is_constant(
    correct: Callable,
    senior: User,
    client_as: Callable[[User], APIClient],
    django_assert_num_queries: Callable[..., Any],
) -> None:
    client = client_as(senior)
    correct()
    client.get(f"{API}/")  # loads the user's permission cache
    # Segment figures, count, and the ranked page.
    with django_assert_num_queries(3):
        assert len(client.get(f"{API}/").json()["results"]) == 1
    for _ in range(5):
        correct()
    with django_assert_num_queries(3):
        assert len(client.get(f"{API}/").json()["results"]) == 6


def test_admin_actions_call_the_services(
    correct: Callable, senior: User, senior2: User, analyst: User, client: Client
) -> None:
    item = correct()
    url = "/admin/feedback/reviewitem/"
    client.force_login(senior)
    page = client.get(url)
    assert page.status_code == 200
    assert b"Claim selected items" in page.content
    client.post(url, {"action": "claim", "_selected_action": [item.pk]})
    assert ReviewItem.objects.get().state == "claimed"
    form = client.post(url, {"action": "reject", "_selected_action": [item.pk]})
    assert b"reason" in form.content
    client.post(
        url,
        {
            "action": "escalate",
            "_selected_action": [item.pk],
            "apply": "1",
            "reason": "second opinion",
        },
    )
    assert ReviewItem.objects.get().state == "adjudication"
    client.post(url, {"action": "approve", "_selected_action": [item.pk]})
    assert ReviewItem.objects.get().state == "adjudication"  # same analyst: refused
    client.force_login(senior2)
    client.post(url, {"action": "approve", "_selected_action": [item.pk]})
    assert ReviewItem.objects.get().state == "approved"
    assert client.post(f"{url}{item.pk}/delete/").status_code == 403


def test_admin_hides_review_actions_without_the_permission(
    correct: Callable, make_user: Callable, client: Client
) -> None:
    item = correct()
    auditor = make_user("audrey", "auditor", is_staff=True)
    client.force_login(auditor)
    page = client.get("/admin/feedback/reviewitem/")
    assert page.status_code == 200
    assert b"Claim selected items" not in page.content
    client.post(
        "/admin/feedback/reviewitem/",
        {"action": "claim", "_selected_action": [item.pk]},
    )
    assert ReviewItem.objects.get().state == "pending"


def test_result_over_the_byte_cap_fails_the_check_and_refuses_approval(
    correct: Callable, senior: User, settings: Any
) -> None:
    settings.SANDBOX_MAX_RESULT_BYTES = 500_000
    item = correct(sql="SELECT zeroblob(50000) FROM singer a, singer b")
    assert item.check_status == "failed"
    assert item.check_error.startswith("Result too large")
    settings.SANDBOX_MAX_RESULT_BYTES = 16 * 1024 * 1024
    small = correct(sql="SELECT zeroblob(50000) FROM singer", question="Blobs?")
    assert small.check_status == "executed"
    settings.SANDBOX_MAX_RESULT_BYTES = 100_000
    services.claim_review_item(item=small, acting_user=senior)
    with pytest.raises(ReviewError, match=r"(?i)result too large"):
        services.approve_review_item(item=small, acting_user=senior)
    assert not GoldenExample.objects.exists()
