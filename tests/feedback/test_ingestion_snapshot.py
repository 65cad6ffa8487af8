"""Differential tests: ingestion gives, item for item, what it gave before its
fast paths. The corpus (tests/feedback/ingestion_corpus.py) holds valid events
and invalid ones (wrong types, limits, unicode edge cases, replays and conflicts
inside the batch); the snapshot holds what the code before the batch speed-ups
answered and stored. A change in behaviour shows as a difference here.

To record a new snapshot on purpose: LOOPGATE_WRITE_SNAPSHOT=1, then review the
diff of ingestion_snapshot.json.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection

from feedback.events import Validator
from feedback.ingestion import fingerprint
from feedback.models import Feedback, FeedbackTopic, Interaction, ReviewItem
from registry.models import Label
from tests.feedback import ingestion_corpus as corpus

BATCH = "/api/v1/feedback/batch/"
KEY = b"snapshot-key"


def _compare(section: str, observed: Any) -> None:
    observed = json.loads(json.dumps(observed))
    if os.environ.get("LOOPGATE_WRITE_SNAPSHOT"):
        stored = corpus.load() if corpus.SNAPSHOT.exists() else {}
        stored[section] = observed
        corpus.SNAPSHOT.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
        return
    expected = corpus.load()[section]
    assert len(observed) == len(expected)
    for index, (seen, wanted) in enumerate(zip(observed, expected, strict=True)):
        assert seen == wanted, f"{section}[{index}]"


def test_validation_and_fingerprints_match_the_snapshot() -> None:
    validator = Validator(now=corpus.NOW)
    observed = []
    for raw in corpus.corpus():
        kind, clean, errors = validator.validate(raw)
        entry: dict[str, Any] = {"kind": kind, "errors": errors}
        entry["clean"] = corpus.typed(clean)
        if not errors:
            hashed = {k: v for k, v in clean.items() if k != "kind"}
            if not hashed.get("topic"):
                hashed.pop("topic", None)
            entry["fingerprint"] = fingerprint(kind, hashed, key=KEY)
        observed.append(entry)
    _compare("validation", observed)


def _symbols(production: Label, user: User) -> dict[tuple[str, Any], str]:
    return {
        ("prompt_version_id", production.prompt_version_id): "PROMPT",
        ("model_version_id", production.model_version_id): "MODEL",
        ("template_id", production.template_id): "TEMPLATE",
        ("submitted_by_id", user.pk): "USER",
    }


def _name(symbols: dict[tuple[str, Any], str], column: str, value: Any) -> Any:
    if isinstance(value, list):
        return value
    return symbols.get((column, value), value)


def _stored(symbols: dict[tuple[str, Any], str]) -> list[Any]:
    """Every stored row, volatile columns out, ids named."""
    rows: list[Any] = []
    for model in (Interaction, Feedback):
        names = [f.attname for f in model._meta.concrete_fields]
        names = [n for n in names if n not in ("received_at", "fingerprint")]
        for row in model.objects.order_by("event_id").values(*names):
            named = {k: _name(symbols, k, v) for k, v in row.items()}
            rows.append([model.__name__, corpus.typed(named)])
    for topic in FeedbackTopic.objects.order_by("feedback_id").values(
        "feedback_id", "topic", "taxonomy_version", "source"
    ):
        rows.append(["FeedbackTopic", corpus.typed(topic)])
    for review in ReviewItem.objects.order_by("feedback_id").values(
        "feedback_id", "interaction_id", "task_type", "question_hash", "weight"
    ):
        rows.append(["ReviewItem", corpus.typed(review)])
    return rows


@pytest.mark.django_db
def test_batch_results_and_stored_rows_match_the_snapshot(
    production: Label, analyst: User, client_as: Callable
) -> None:
    events = corpus.with_versions(
        corpus.corpus(), production.prompt_version_id, production.model_version_id
    )
    client = client_as(analyst)
    answers = []
    # The second round replays every event: duplicates and conflicts by the
    # stored fingerprints.
    for _ in range(2):
        body = json.dumps({"events": events})
        response = client.post(BATCH, body, content_type="application/json")
        assert response.status_code == 200, response.content
        answers.append(response.json())
    stored = _stored(_symbols(production, analyst))
    # One snapshot for both databases: the same batch stores the same rows.
    _compare("api", [*answers, *stored])
    assert connection.vendor in ("sqlite", "postgresql")


@pytest.mark.django_db
def test_replayed_events_with_other_payloads_conflict_item_by_item(
    production: Label, analyst: User, client_as: Callable
) -> None:
    events = corpus.with_versions(
        corpus.corpus(), production.prompt_version_id, production.model_version_id
    )
    client = client_as(analyst)
    body = json.dumps({"events": events})
    first = client.post(BATCH, body, content_type="application/json").json()
    changed = [
        {**e, "occurred_at": "2026-05-31T10:00:01+02:00"} if isinstance(e, dict) else e
        for e in events
    ]
    body = json.dumps({"events": changed})
    second = client.post(BATCH, body, content_type="application/json").json()
    for before, after in zip(first["results"], second["results"], strict=True):
        if before["status"] == "created":
            assert after["status"] == "conflict", before
    _compare("conflicts", [second])
