"""Ingestion and read endpoints: auth, validation, idempotency, query counts."""

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from feedback.models import Feedback, Interaction

pytestmark = pytest.mark.django_db
API = "/api/v1/feedback"
Build = Callable[..., dict[str, Any]]


def test_posting_an_interaction_needs_a_client(
    api_client: APIClient, interaction_event: Build
) -> None:
    response = api_client.post(f"{API}/interactions/", interaction_event(), "json")
    assert response.status_code == 401
    assert not Interaction.objects.exists()


def test_posting_an_interaction_needs_the_add_permission(
    auditor: User, client_as: Callable[[User], APIClient], interaction_event: Build
) -> None:
    response = client_as(auditor).post(
        f"{API}/interactions/", interaction_event(), "json"
    )
    assert response.status_code == 403


def test_interaction_created_then_replayed_then_conflicting(
    analyst: User, client_as: Callable[[User], APIClient], interaction_event: Build
) -> None:
    client = client_as(analyst)
    event = interaction_event(question="Singers older than 30? mail a@b.co")
    created = client.post(f"{API}/interactions/", event, "json")
    assert created.status_code == 201
    assert created.json()["question"] == "Singers older than 30? mail [EMAIL]"
    assert "user_id" not in created.json()
    replay = client.post(f"{API}/interactions/", event, "json")
    assert replay.status_code == 200
    assert replay.json() == created.json()
    conflict = client.post(
        f"{API}/interactions/", {**event, "outcome": "timeout"}, "json"
    )
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "event_id_conflict"
    assert "event_id" in conflict.json()
    assert Interaction.objects.count() == 1
    assert Interaction.objects.get().outcome == "success"


def test_interaction_validation_errors_name_the_field(
    analyst: User, client_as: Callable[[User], APIClient], interaction_event: Build
) -> None:
    response = client_as(analyst).post(
        f"{API}/interactions/",
        interaction_event(prompt_version=424242, kind=...),
        "json",
    )
    assert response.status_code == 400
    assert response.json() == {"prompt_version": ["Unknown prompt version id."]}
    feedback_kind = client_as(analyst).post(
        f"{API}/interactions/", interaction_event(kind="feedback"), "json"
    )
    assert feedback_kind.status_code == 400
    assert "kind" in feedback_kind.json()


def test_non_object_body_is_a_400(
    analyst: User, client_as: Callable[[User], APIClient]
) -> None:
    response = client_as(analyst).post(f"{API}/interactions/", [1, 2], "json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()


def test_feedback_endpoint_creates_and_refuses_unknown_interactions(
    analyst: User,
    client_as: Callable[[User], APIClient],
    interaction_event: Build,
    feedback_event: Build,
) -> None:
    client = client_as(analyst)
    event = interaction_event()
    client.post(f"{API}/interactions/", event, "json")
    ok = client.post(f"{API}/feedback/", feedback_event(event["event_id"]), "json")
    assert ok.status_code == 201
    assert ok.json()["type"] == "thumbs_down"
    missing = client.post(f"{API}/feedback/", feedback_event(str(uuid.uuid4())), "json")
    assert missing.status_code == 400
    assert "interaction_id" in missing.json()


def test_batch_reports_each_item(
    analyst: User,
    client_as: Callable[[User], APIClient],
    interaction_event: Build,
    feedback_event: Build,
) -> None:
    client = client_as(analyst)
    first = interaction_event()
    client.post(f"{API}/interactions/", first, "json")
    second = interaction_event()
    events = [
        first,
        {**first, "outcome": "timeout"},
        second,
        feedback_event(second["event_id"], type="copied"),
        interaction_event(tenant_id=""),
        "not an object",
    ]
    body = client.post(f"{API}/batch/", {"events": events}, "json").json()
    assert [r["status"] for r in body["results"]] == [
        "duplicate",
        "conflict",
        "created",
        "created",
        "invalid",
        "invalid",
    ]
    assert body["results"][4]["errors"] == {"tenant_id": ["This field is required."]}
    assert (body["created"], body["duplicate"], body["invalid"], body["conflict"]) == (
        2,
        1,
        2,
        1,
    )
    assert Interaction.objects.count() == 2
    assert Feedback.objects.count() == 1


@pytest.mark.parametrize(
    "payload", [{}, {"events": []}, {"events": "x"}, [], {"events": [{}] * 1001}]
)
def test_batch_envelope_errors_are_400(
    analyst: User, client_as: Callable[[User], APIClient], payload: Any
) -> None:
    response = client_as(analyst).post(f"{API}/batch/", payload, "json")
    assert response.status_code == 400
    assert "events" in response.json()


def test_batch_needs_a_client_with_both_add_permissions(
    api_client: APIClient,
    make_user: Callable[..., User],
    client_as: Callable[[User], APIClient],
) -> None:
    assert api_client.post(f"{API}/batch/", {"events": []}, "json").status_code == 401
    viewer = make_user("viewer", "ml_lead")
    response = client_as(viewer).post(f"{API}/batch/", {"events": [{}]}, "json")
    assert response.status_code == 403


def test_reading_events_needs_view_permission(
    analyst: User,
    senior: User,
    client_as: Callable[[User], APIClient],
    interaction_event: Build,
    ingest: Callable,
) -> None:
    event = interaction_event()
    ingest(event)
    assert client_as(analyst).get(f"{API}/interactions/").status_code == 403
    client = client_as(senior)
    detail = client.get(f"{API}/interactions/{event['event_id']}/")
    assert detail.status_code == 200
    assert detail.json()["question_hash"]
    assert client.get(f"{API}/interactions/{uuid.uuid4()}/").status_code == 404


def test_list_endpoints_use_a_constant_number_of_queries(
    senior: User,
    client_as: Callable[[User], APIClient],
    interaction_event: Build,
    feedback_event: Build,
    ingest: Callable,
    django_assert_num_queries: Callable[..., Any],
) -> None:
    client = client_as(senior)

    def read_every_list() -> None:
        # Count and page, joins included: never one query per row. The review
        # queue reads its segment figures first.
        for url, queries in (
            ("interactions/", 2),
            ("feedback/", 2),
            ("review-items/", 3),
        ):
            with django_assert_num_queries(queries):
                assert client.get(f"{API}/{url}").status_code == 200

    def add(n: int) -> None:
        for _ in range(n):
            event = interaction_event()
            ingest(
                event,
                feedback_event(
                    event["event_id"], type="correction", corrected_sql="SELECT 1"
                ),
            )

    add(2)
    client.get(f"{API}/interactions/")  # warms the forced user's permission cache
    read_every_list()
    add(8)
    read_every_list()


def test_openapi_documents_ingestion_with_examples_and_conflicts(
    api_client: APIClient,
) -> None:
    schema = api_client.get("/api/schema/?format=json").json()
    post = schema["paths"][f"{API}/interactions/"]["post"]
    assert {"200", "201", "400", "409"} <= set(post["responses"])
    assert "examples" in post["requestBody"]["content"]["application/json"]
    batch = schema["paths"][f"{API}/batch/"]["post"]
    assert "200" in batch["responses"]
    assert f"{API}/widget/" in schema["paths"]
