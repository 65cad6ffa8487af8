"""Demo-like history for the dashboard, built through services, then dated.

Services stamp everything "now"; a dashboard needs weeks of history, so after
each service call the rows it wrote are moved back in time (label history,
run finish times, promotion close times). Interactions are ingested with their
past `occurred_at`, as clients send them.
"""

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from evaluation.models import EvaluationRun, GoldenSetSnapshot
from feedback.ingestion import ingest_events
from governance.models import PromotionRequest
from governance.promotions import request_promotion
from governance.rollout_models import RolloutPolicy
from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion
from registry.services import move_label
from tests.governance.run_builders import make_run, new_prompt, prompt_author, summary

DAY = dt.timedelta(days=1)


def days_ago(n: float) -> dt.datetime:
    return timezone.now() - n * DAY


def date_last_move(template: PromptTemplate, name: str, at: dt.datetime) -> None:
    """Move the label's latest history row (and the label) back to `at`."""
    record = (
        Label.history.filter(template_id=template.pk, name=name)
        .order_by("-history_date", "-history_id")
        .first()
    )
    assert record is not None
    Label.history.filter(history_id=record.history_id).update(history_date=at)
    Label.objects.filter(template=template, name=name).update(moved_at=at)


def finished(run: EvaluationRun, at: dt.datetime) -> EvaluationRun:
    EvaluationRun.objects.filter(pk=run.pk).update(finished_at=at, created_at=at)
    run.refresh_from_db()
    return run


def interaction(
    label_pair: tuple[PromptVersion, ModelVersion],
    at: dt.datetime,
    *,
    session: str,
    task_type: str = "adhoc",
    tenant: str = "acme",
    outcome: str = "success",
    latency_ms: int = 600,
    feedback: str = "",
) -> list[dict[str, Any]]:
    """One interaction event (and optionally one feedback event on it)."""
    prompt, model = label_pair
    event_id = str(uuid.uuid4())
    events: list[dict[str, Any]] = [
        {
            "kind": "interaction",
            "event_id": event_id,
            "trace_id": f"t-{event_id[:8]}",
            "session_id": session,
            "user_id": "user-17",
            "tenant_id": tenant,
            "task_type": task_type,
            "question": "How many singers are there?",
            "generated_sql": "SELECT count(*) FROM singer",
            "prompt_version": prompt.pk,
            "model_version": model.pk,
            "server_latency_ms": latency_ms,
            "outcome": outcome,
            "consent_scope": "improvement",
            "occurred_at": at.isoformat(),
        }
    ]
    if feedback:
        event: dict[str, Any] = {
            "kind": "feedback",
            "event_id": str(uuid.uuid4()),
            "interaction_id": event_id,
            "type": feedback,
            "submitter_role": "end_user",
            "occurred_at": (at + dt.timedelta(minutes=1)).isoformat(),
        }
        if feedback == "correction":
            event["corrected_sql"] = "SELECT count(*) FROM singer WHERE age > 30"
            event["submitter_role"] = "analyst"
        if feedback == "comment":
            event["comment"] = "The answer took a while."
        events.append(event)
    return events


def ingest(events: list[dict[str, Any]], user: User) -> None:
    results = ingest_events(events=events, acting_user=user, channel="api")
    assert all(r.status == "created" for r in results), results


@dataclass
class History:
    template: PromptTemplate
    v1: PromptVersion
    v2: PromptVersion
    v3: PromptVersion
    model: ModelVersion
    runs_v1: list[EvaluationRun]
    candidate: EvaluationRun
    after: EvaluationRun
    promotion: PromotionRequest
    promoted_at: dt.datetime


def build_history(
    *,
    production: Label,
    snapshot: GoldenSetSnapshot,
    ml_lead: User,
    requester: User,
) -> History:
    """Production at v1 from 40 days ago with runs, a challenger at v3 for a
    30% share from 20 days ago, v2 promoted (tier 1: automatic) 6 days ago."""
    template, model = production.template, production.model_version
    v1 = production.prompt_version
    date_last_move(template, "production", days_ago(40))
    runs_v1 = [
        finished(make_run(v1, model, snapshot, summary(acc)), days_ago(ago))
        for acc, ago in ((0.60, 35), (0.625, 25), (0.65, 15))
    ]
    v3 = new_prompt(template, prompt_author(), "v3")
    move_label(
        template=template,
        name=Label.Name.CHALLENGER,
        prompt_version=v3,
        model_version=model,
        traffic_share=Decimal("0.3"),
        reason="try v3 on 30% of sessions",
        acting_user=ml_lead,
    )
    date_last_move(template, "challenger", days_ago(20))
    v2 = new_prompt(template, prompt_author(), "v2")
    candidate = finished(make_run(v2, model, snapshot, summary(0.75)), days_ago(8))
    template.risk_tier = 1
    template.save(update_fields=["risk_tier"])
    # The history needs production moved by the approval itself; staged
    # rollouts have their own dashboard series (the rollout label).
    RolloutPolicy.objects.create(template=template, mode=RolloutPolicy.Mode.IMMEDIATE)
    promotion = request_promotion(
        template=template,
        prompt_version=v2,
        model_version=model,
        candidate_run=candidate,
        rationale="v2 is more accurate",
        requested_by=requester,
    )
    promotion.refresh_from_db()
    assert promotion.status == PromotionRequest.Status.PROMOTED, promotion.gates
    promoted_at = days_ago(6)
    PromotionRequest.objects.filter(pk=promotion.pk).update(closed_at=promoted_at)
    promotion.refresh_from_db()
    date_last_move(template, "production", promoted_at)
    after = finished(make_run(v2, model, snapshot, summary(0.775)), days_ago(2))
    return History(
        template, v1, v2, v3, model, runs_v1, candidate, after, promotion, promoted_at
    )
