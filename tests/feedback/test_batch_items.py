"""One bad event never costs its neighbours: in a batch, through the API and in
import_feedback, whatever the cause of the failure."""

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import DataError

from feedback import ingestion_store
from feedback.models import Feedback, Interaction

pytestmark = pytest.mark.django_db
Build = Callable[..., dict[str, Any]]
BATCH = "/api/v1/feedback/batch/"

BAD_ITEMS: list[tuple[str, dict[str, Any], str]] = [
    ("kind as a list", {"kind": ["interaction"]}, "kind"),
    ("kind as an object", {"kind": {"a": 1}}, "kind"),
    ("lone surrogate", {"question": "How many \ud800 singers?"}, "question"),
    ("NUL", {"question": "How many\x00 singers?"}, "question"),
    ("surrogate in user id", {"user_id": "u\udfff"}, "user_id"),
    ("early overflow", {"occurred_at": "0001-01-01T00:00:00+14:00"}, "occurred_at"),
    ("late overflow", {"occurred_at": "9999-12-31T23:59:59-14:00"}, "occurred_at"),
    ("float id", {"prompt_version": 1.5}, "prompt_version"),
    ("huge id", {"prompt_version": 10**400}, "prompt_version"),
    ("huge tokens", {"output_tokens": 10**30}, "output_tokens"),
    ("list as text", {"question": ["a"]}, "question"),
    ("surrogate in a key", {"q\ud800": "x"}, "q\\ud800"),
]


@pytest.mark.parametrize(
    ("change", "field"),
    [(b[1], b[2]) for b in BAD_ITEMS],
    ids=[b[0] for b in BAD_ITEMS],
)
def test_one_bad_event_in_a_batch_costs_only_itself(
    change: dict[str, Any],
    field: str,
    interaction_event: Build,
    client_as: Callable,
    analyst: User,
) -> None:
    events = [interaction_event() for _ in range(6)]
    events[3] = {**events[3], **change}
    body = json.dumps({"events": events})
    response = client_as(analyst).post(BATCH, body, content_type="application/json")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created"] * 3 + ["invalid"] + [
        "created"
    ] * 2
    assert list(results[3]["errors"]) == [field]
    assert Interaction.objects.count() == 5


def test_a_float_value_past_float_range_is_that_events_error(
    interaction_event: Build, feedback_event: Build, client_as: Callable, analyst: User
) -> None:
    interaction = interaction_event()
    metric = feedback_event(
        interaction["event_id"], type="outcome_metric", metric_name="rows"
    )
    body = json.dumps({"events": [interaction, metric]}).replace(
        '"metric_name": "rows"', '"metric_name": "rows", "value": ' + "9" * 400
    )
    response = client_as(analyst).post(BATCH, body, content_type="application/json")
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "invalid"]
    assert list(results[1]["errors"]) == ["value"]


def test_an_unexpected_failure_while_building_is_that_events_result(
    interaction_event: Build, ingest: Callable
) -> None:
    events = [interaction_event(question=f"Question {i}?") for i in range(4)]
    real = ingestion_store.insert_rows

    def refuse_one(model: Any, rows: Iterable[dict[str, Any]]) -> None:
        rows = list(rows)  # on PostgreSQL, rows built as they are sent
        if any(row.get("question") == "Question 2?" for row in rows):
            raise DataError("value out of range")
        real(model, rows)

    with mock.patch.object(ingestion_store, "insert_rows", refuse_one):
        results = ingest(*events)
    assert [r.status for r in results] == ["created", "created", "invalid", "created"]
    assert list(results[2].errors) == ["non_field_errors"]
    assert Interaction.objects.count() == 3


def test_feedback_on_an_interaction_the_database_refused_is_not_stored(
    interaction_event: Build, feedback_event: Build, ingest: Callable
) -> None:
    kept, refused = interaction_event(), interaction_event(question="Refused?")
    events = [
        kept,
        refused,
        feedback_event(kept["event_id"]),
        feedback_event(refused["event_id"]),
    ]
    real = ingestion_store.insert_rows

    def refuse(model: Any, rows: Iterable[dict[str, Any]]) -> None:
        rows = list(rows)  # on PostgreSQL, rows built as they are sent
        if any(row.get("question") == "Refused?" for row in rows):
            raise DataError("refused")
        real(model, rows)

    with mock.patch.object(ingestion_store, "insert_rows", refuse):
        results = ingest(*events)
    assert [r.status for r in results] == ["created", "invalid", "created", "invalid"]
    assert list(results[3].errors) == ["interaction_id"]
    assert Feedback.objects.count() == 1


def test_import_feedback_keeps_every_valid_line(
    interaction_event: Build, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = [interaction_event() for _ in range(3)]
    lines = [json.dumps(e).encode() for e in good]
    lines.insert(
        1, json.dumps({**interaction_event(), "kind": ["interaction"]}).encode()
    )
    lines.insert(2, b"[" * 5000 + b"]" * 5000)
    lines.insert(3, b'{"kind": "interaction", "question": "\xff\xfe"}')
    lines.insert(4, json.dumps(interaction_event(question="a\ud800")).encode())
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    call_command("import_feedback", str(path))
    out = capsys.readouterr()
    assert "created: 3" in out.out
    assert "invalid: 4" in out.out
    assert Interaction.objects.count() == 3
