"""Feedback personas and payload builders."""

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from audit.appendonly import suspended_guards
from feedback.ingestion import ItemResult, ingest_events
from feedback.models import ReviewItem
from registry.models import Label

Payload = dict[str, Any]
GOOD_SQL = "SELECT count(*) FROM singer WHERE age > 30"


def when(minutes_ago: int = 1) -> str:
    return (timezone.now() - timedelta(minutes=minutes_ago)).isoformat()


@pytest.fixture
def senior(make_user: Callable[..., User]) -> User:
    return make_user("sam", "senior_analyst", is_staff=True)


@pytest.fixture
def senior2(make_user: Callable[..., User]) -> User:
    return make_user("sue", "senior_analyst", is_staff=True)


@pytest.fixture
def interaction_event(production: Label) -> Callable[..., Payload]:
    def build(**overrides: Any) -> Payload:
        payload: Payload = {
            "kind": "interaction",
            "event_id": str(uuid.uuid4()),
            "trace_id": "t-1",
            "session_id": "s-1",
            "user_id": "user-17",
            "analyst_id": "analyst-3",
            "tenant_id": "acme",
            "task_type": "adhoc",
            "question": "How many singers are there?",
            "generated_sql": "SELECT count(*) FROM singer",
            "prompt_version": production.prompt_version_id,
            "model_version": production.model_version_id,
            "retrieval_ids": ["doc-1"],
            "knowledge_version": "kb-7",
            "output_tokens": 12,
            "client_latency_ms": 840,
            "server_latency_ms": 610,
            "outcome": "success",
            "country": "DE",
            "consent_scope": "improvement",
            "occurred_at": when(),
        }
        payload.update(overrides)
        return {k: v for k, v in payload.items() if v is not ...}

    return build


@pytest.fixture
def feedback_event() -> Callable[..., Payload]:
    def build(interaction_id: str, **overrides: Any) -> Payload:
        payload: Payload = {
            "kind": "feedback",
            "event_id": str(uuid.uuid4()),
            "interaction_id": interaction_id,
            "type": "thumbs_down",
            "submitter_role": "analyst",
            "occurred_at": when(),
        }
        payload.update(overrides)
        return {k: v for k, v in payload.items() if v is not ...}

    return build


@pytest.fixture
def ingest(analyst: User) -> Callable[..., list[ItemResult]]:
    def run(*events: Payload, kind: str | None = None) -> list[ItemResult]:
        return ingest_events(
            events=list(events), acting_user=analyst, channel="api", kind=kind
        )

    return run


@pytest.fixture
def correct(
    interaction_event: Callable[..., Payload],
    feedback_event: Callable[..., Payload],
    ingest: Callable,
    django_capture_on_commit_callbacks: Callable,
) -> Callable[..., ReviewItem]:
    def make(sql: str = GOOD_SQL, question: str = "Singers over 30?", **kw: Any):
        event = interaction_event(question=question, **kw)
        signal = feedback_event(event["event_id"], type="correction", corrected_sql=sql)
        with django_capture_on_commit_callbacks(execute=True):
            ingest(event, signal)
        return ReviewItem.objects.get(feedback_id=signal["event_id"])

    return make


@pytest.fixture
def purge_events() -> Iterator[None]:
    """For transactional tests: empty the append-only tables before the flush."""
    yield
    with suspended_guards(), connection.cursor() as cursor:
        for table in (
            "feedback_calibrationanswer",
            "feedback_historicalcalibrationitem",
            "feedback_calibrationitem",
            "feedback_reviewverdict",
            "feedback_historicalreviewitem",
            "feedback_reviewitem",
            "feedback_feedback",
            "feedback_interaction",
        ):
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)
