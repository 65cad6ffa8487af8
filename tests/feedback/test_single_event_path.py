"""The single-event endpoints: few round trips, and the same answer as a read back."""

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.services import issue_api_token
from registry.models import Label

API = "/api/v1/feedback"
Build = Callable[..., dict[str, Any]]


@pytest.fixture
def assistant(make_user: Callable[..., User]) -> APIClient:
    user = make_user("assistant-bot", "service_account", "analyst")
    _, key = issue_api_token(user=user, name="assistant", acting_user=None)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def _statements(queries: CaptureQueriesContext) -> list[str]:
    return [query["sql"][:70] for query in queries.captured_queries]


# Transactional, as a server runs: no test transaction turns BEGIN into SAVEPOINT.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_storing_one_interaction_and_one_thumbs_takes_at_most_four_queries(
    production: Label,
    assistant: APIClient,
    interaction_event: Build,
    feedback_event: Build,
) -> None:
    assistant.post(f"{API}/interactions/", interaction_event(), "json")  # warm key
    event = interaction_event(kind=...)
    with CaptureQueriesContext(connection) as queries:
        created = assistant.post(f"{API}/interactions/", event, "json")
    assert created.status_code == 201, created.content
    assert len(queries) <= 4, _statements(queries)
    thumbs = feedback_event(event["event_id"], kind=...)
    with CaptureQueriesContext(connection) as queries:
        stored = assistant.post(f"{API}/feedback/", thumbs, "json")
    assert stored.status_code == 201, stored.content
    assert len(queries) <= 4, _statements(queries)


@pytest.mark.django_db
@pytest.mark.parametrize("occurred_at", ["2025-01-31T09:15:00+02:00", None])
def test_a_created_interaction_answers_what_reading_it_back_answers(
    production: Label,
    assistant: APIClient,
    auditor: User,
    interaction_event: Build,
    occurred_at: str | None,
) -> None:
    extra = {"occurred_at": occurred_at} if occurred_at else {}
    event = interaction_event(
        kind=...,
        question="Who wrote to ann@example.com about singers?",
        retrieval_ids=["doc-1", "doc-2"],
        input_tokens=230,
        reported_model="gpt-sql-2026-11",
        **extra,
    )
    created = assistant.post(f"{API}/interactions/", event, "json")
    assert created.status_code == 201
    reader = APIClient()
    reader.force_authenticate(auditor)
    read = reader.get(f"{API}/interactions/{event['event_id']}/")
    assert read.status_code == 200, read.content
    assert created.json() == read.json()
    assert created.json()["template"] == production.template.name


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides",
    [
        {"type": "thumbs_down"},
        {"type": "comment", "comment": "Wrong table", "topic": "wrong_answer"},
        {"type": "correction", "corrected_sql": "SELECT count(*) FROM singer"},
        {"type": "outcome_metric", "metric_name": "rows_exported", "value": 12.5},
    ],
    ids=lambda overrides: overrides["type"],
)
def test_created_feedback_answers_what_reading_it_back_answers(
    production: Label,
    assistant: APIClient,
    auditor: User,
    interaction_event: Build,
    feedback_event: Build,
    overrides: dict[str, Any],
) -> None:
    event = interaction_event(kind=...)
    assert assistant.post(f"{API}/interactions/", event, "json").status_code == 201
    feedback = feedback_event(event["event_id"], kind=..., **overrides)
    created = assistant.post(f"{API}/feedback/", feedback, "json")
    assert created.status_code == 201, created.content
    reader = APIClient()
    reader.force_authenticate(auditor)
    listed = reader.get(f"{API}/feedback/")
    assert listed.status_code == 200, listed.content
    body = listed.json()
    rows = body["results"] if isinstance(body, dict) else body
    (read,) = [row for row in rows if row["event_id"] == feedback["event_id"]]
    assert created.json() == read


@pytest.mark.django_db
def test_one_interaction_with_an_unknown_model_version_names_the_field(
    production: Label, assistant: APIClient, interaction_event: Build
) -> None:
    event = interaction_event(kind=..., model_version=production.prompt_version_id + 99)
    response = assistant.post(f"{API}/interactions/", event, "json")
    assert response.status_code == 400
    assert set(response.json()) == {"model_version"}
    unknown_prompt = interaction_event(kind=..., prompt_version=99_999)
    response = assistant.post(f"{API}/interactions/", unknown_prompt, "json")
    assert response.status_code == 400
    assert set(response.json()) == {"prompt_version"}
    assert uuid.UUID(event["event_id"])
