"""Simulated online traffic for rollout tests, through the ingestion path."""

import uuid
from datetime import datetime

from django.contrib.auth.models import User
from django.utils import timezone

from feedback.ingestion import ingest_events


def traffic(
    *,
    pair: tuple[int, int],
    analyst: User,
    sessions: int,
    prefix: str,
    negative: int = 0,
    failures: int = 0,
    latency_ms: int = 100,
    metric: float | None = None,
    at: datetime | None = None,
) -> None:
    """`sessions` interactions (one per session) served by `pair`: the first
    `negative` get a thumbs-down, the last `failures` fail with a SQL error;
    each reports `latency_ms` (plus a little spread) and, given, the
    `answer_used` outcome metric."""
    moment = (at or timezone.now()).isoformat()
    events: list[dict[str, object]] = []
    for index in range(sessions):
        event_id = str(uuid.uuid4())
        events.append(
            {
                "kind": "interaction",
                "event_id": event_id,
                "session_id": f"{prefix}-{index}",
                "user_id": f"u{index}",
                "tenant_id": "acme",
                "task_type": "adhoc",
                "question": f"question {prefix} {index}",
                "prompt_version": pair[0],
                "model_version": pair[1],
                "outcome": "sql_error" if index >= sessions - failures else "success",
                "server_latency_ms": latency_ms + index % 7,
                "consent_scope": "improvement",
                "occurred_at": moment,
            }
        )
        if index < negative:
            events.append(
                {
                    "kind": "feedback",
                    "event_id": str(uuid.uuid4()),
                    "interaction_id": event_id,
                    "type": "thumbs_down",
                    "submitter_role": "analyst",
                    "occurred_at": moment,
                }
            )
        if metric is not None:
            events.append(
                {
                    "kind": "feedback",
                    "event_id": str(uuid.uuid4()),
                    "interaction_id": event_id,
                    "type": "outcome_metric",
                    "metric_name": "answer_used",
                    "value": metric if index % 4 else 1.0 - metric,
                    "submitter_role": "analyst",
                    "occurred_at": moment,
                }
            )
    results = ingest_events(events=events, acting_user=analyst, channel="api")
    assert {r.status for r in results} == {"created"}, results
