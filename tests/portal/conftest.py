"""Personas and the state each role's home shows, built through services."""

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from audit.appendonly import suspended_guards
from evaluation.models import EvaluationRun, GoldenSetSnapshot
from feedback.ingestion import ingest_events
from feedback.models import ReviewItem
from feedback.services import claim_review_item, escalate_review_item
from governance.models import PromotionRequest
from governance.promotions import request_promotion
from registry.models import Label, ModelVersion, PromptTemplate
from registry.services import create_template, move_label
from targets.models import TargetDatabase
from tests.governance.run_builders import (
    make_run,
    make_snapshot,
    new_prompt,
    prompt_author,
    summary,
)


@pytest.fixture
def senior(make_user: Callable[..., User]) -> User:
    return make_user("sen", "senior_analyst", is_staff=True)


@pytest.fixture
def senior2(make_user: Callable[..., User]) -> User:
    return make_user("sue", "senior_analyst", is_staff=True)


@pytest.fixture
def ml_lead2(make_user: Callable[..., User]) -> User:
    return make_user("max", "ml_lead", is_staff=True)


@pytest.fixture
def safety(make_user: Callable[..., User]) -> User:
    return make_user("saf", "ai_safety", is_staff=True)


@pytest.fixture
def product_owner(make_user: Callable[..., User]) -> User:
    return make_user("pia", "product", is_staff=True)


@pytest.fixture
def snapshot(target_db: TargetDatabase) -> GoldenSetSnapshot:
    return make_snapshot(target_db, "golden-1", 4)


def _correction(label: Label, analyst: User, question: str) -> ReviewItem:
    interaction_id, feedback_id = str(uuid.uuid4()), str(uuid.uuid4())
    now = timezone.now().isoformat()
    events: list[dict[str, Any]] = [
        {
            "kind": "interaction",
            "event_id": interaction_id,
            "trace_id": "t-1",
            "session_id": "s-1",
            "user_id": "user-17",
            "analyst_id": "analyst-3",
            "tenant_id": "acme",
            "task_type": "adhoc",
            "question": question,
            "generated_sql": "SELECT count(*) FROM singer",
            "prompt_version": label.prompt_version_id,
            "model_version": label.model_version_id,
            "retrieval_ids": ["doc-1"],
            "knowledge_version": "kb-7",
            "output_tokens": 12,
            "client_latency_ms": 840,
            "server_latency_ms": 610,
            "outcome": "success",
            "country": "DE",
            "consent_scope": "improvement",
            "occurred_at": now,
        },
        {
            "kind": "feedback",
            "event_id": feedback_id,
            "interaction_id": interaction_id,
            "type": "correction",
            "corrected_sql": "SELECT count(*) FROM singer WHERE age > 30",
            "submitter_role": "analyst",
            "occurred_at": now,
        },
    ]
    results = ingest_events(events=events, acting_user=analyst, channel="api")
    assert [r.status for r in results] == ["created", "created"], results
    return ReviewItem.objects.get(feedback_id=feedback_id)


@dataclass
class Queue:
    pending: ReviewItem
    claimed: ReviewItem
    escalated: ReviewItem


@pytest.fixture
def queue(
    production: Label,
    analyst: User,
    senior: User,
    senior2: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> Queue:
    """One pending item, one claimed by `senior`, one `senior2` escalated."""
    with django_capture_on_commit_callbacks(execute=True):
        pending = _correction(production, analyst, "Singers older than thirty?")
        claimed = _correction(production, analyst, "How many singers over 30?")
        escalated = _correction(production, analyst, "Count singers past 30")
    claim_review_item(item=claimed, acting_user=senior)
    claim_review_item(item=escalated, acting_user=senior2)
    escalate_review_item(
        item=escalated, acting_user=senior2, reason="Not sure the filter is right."
    )
    return Queue(pending, claimed, escalated)


@pytest.fixture
def tier2_request(
    production: Label,
    template: PromptTemplate,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    ml_lead2: User,
) -> PromotionRequest:
    """A tier-2 request `ml_lead2` opened; its candidate is worse, so a gate fails."""
    make_run(production.prompt_version, model_v1, snapshot, summary(0.75))
    run = make_run(
        new_prompt(template, prompt_author(), "v2"), model_v1, snapshot, summary(0.5)
    )
    return request_promotion(
        template=template,
        prompt_version=run.prompt_version,
        model_version=model_v1,
        candidate_run=run,
        rationale="v2 reads better",
        requested_by=ml_lead2,
    )


@pytest.fixture
def tier3_request(
    target_db: TargetDatabase,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    ml_lead: User,
    senior: User,
) -> PromotionRequest:
    """A tier-3 request on a second template that passes every gate."""
    template = create_template(
        name="payroll",
        description="Sensitive questions",
        owner=ml_lead,
        risk_tier=3,
        target_database=target_db,
        acting_user=ml_lead,
    )
    v1 = new_prompt(template, prompt_author(), "v1")
    move_label(
        template=template,
        name=Label.Name.PRODUCTION,
        prompt_version=v1,
        model_version=model_v1,
        reason="initial",
        acting_user=ml_lead,
    )
    make_run(v1, model_v1, snapshot, summary(0.6))
    run: EvaluationRun = make_run(
        new_prompt(template, prompt_author(), "v2"), model_v1, snapshot, summary(0.9)
    )
    return request_promotion(
        template=template,
        prompt_version=run.prompt_version,
        model_version=model_v1,
        candidate_run=run,
        rationale="v2 answers payroll questions better",
        requested_by=senior,
    )


@pytest.fixture
def purge_events() -> Iterator[None]:
    """For transactional tests: empty the append-only event tables before the
    flush, which their guards would refuse."""
    yield
    with suspended_guards(), connection.cursor() as cursor:
        for table in (
            "feedback_historicalreviewitem",
            "feedback_reviewitem",
            "feedback_feedback",
            "feedback_interaction",
        ):
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)
