"""On PostgreSQL a batch's rows are built while its COPY runs; an item that fails
late, in building or in the database, costs only itself and leaves no stray row."""

from collections.abc import Callable, Iterable, Iterator
from typing import Any
from unittest import mock

import pytest
from django.db import DataError

from feedback import ingestion, rows
from feedback.models import Feedback, Interaction

pytestmark = pytest.mark.postgres
Build = Callable[..., dict[str, Any]]
# Enough rows that psycopg has sent several 32 KB chunks before the late one.
MANY = 400
LATE = 350


@pytest.mark.django_db
def test_rows_are_built_while_the_copy_runs(
    interaction_event: Build, ingest: Callable
) -> None:
    built_when_first_sent: list[int] = []
    redacted: list[str] = []
    real_copy, real_redact = rows.copy_rows, ingestion.redact

    def redact(text: str) -> Any:
        redacted.append(text)
        return real_redact(text)

    def copy_rows(model: Any, batch: Iterable[dict[str, Any]]) -> None:
        def watched() -> Iterator[dict[str, Any]]:
            for row in batch:
                if not built_when_first_sent:
                    built_when_first_sent.append(len(redacted))
                yield row

        real_copy(model, watched())

    events = [interaction_event(question=f"Question {n}?") for n in range(50)]
    with (
        mock.patch.object(rows, "copy_rows", copy_rows),
        mock.patch.object(ingestion, "redact", redact),
    ):
        results = ingest(*events)
    assert {r.status for r in results} == {"created"}
    # Question and SQL of the first event only; the other 49 came later.
    assert built_when_first_sent == [2]
    assert len(redacted) == 100
    assert Interaction.objects.count() == 50


@pytest.mark.django_db
def test_a_row_refused_late_in_a_long_copy_leaves_no_stray_rows(
    interaction_event: Build, feedback_event: Build, ingest: Callable
) -> None:
    events = [interaction_event(question=f"Question {n}?") for n in range(MANY)]
    events += [feedback_event(e["event_id"]) for e in events[LATE - 1 : LATE + 2]]
    real = rows.copy_rows
    refused: list[int] = []

    def out_of_range(model: Any, batch: Iterable[dict[str, Any]]) -> None:
        sent: list[dict[str, Any]] = []

        def spoiled() -> Iterator[dict[str, Any]]:
            for row in batch:
                if row.get("question") == f"Question {LATE}?":
                    row["output_tokens"] = 2**40  # past a PostgreSQL integer
                sent.append(row)
                yield row

        try:
            real(model, spoiled())
        except DataError:
            refused.append(len(sent))
            raise

    with mock.patch.object(rows, "copy_rows", out_of_range):
        results = ingest(*events)
    # The refusal came once most rows had been handed to the COPY.
    assert len(refused) == 1
    assert refused[0] > LATE
    statuses = [(r.kind, r.status) for r in results]
    assert statuses[LATE] == ("interaction", "invalid")
    assert results[LATE].errors == {"non_field_errors": [mock.ANY]}
    assert statuses[:LATE] + statuses[LATE + 1 : MANY] == [
        ("interaction", "created")
    ] * (MANY - 1)
    assert statuses[MANY:] == [
        ("feedback", "created"),
        ("feedback", "invalid"),
        ("feedback", "created"),
    ]
    assert results[MANY + 1].errors.keys() == {"interaction_id"}
    assert Interaction.objects.count() == MANY - 1
    assert not Interaction.objects.filter(question__contains=f" {LATE}?").exists()
    assert Feedback.objects.count() == 2


@pytest.mark.django_db
def test_an_item_whose_build_fails_mid_copy_costs_only_itself(
    interaction_event: Build, ingest: Callable
) -> None:
    real_redact = ingestion.redact

    def redact(text: str) -> Any:
        if text == f"Question {LATE}?":
            raise RuntimeError("redaction broke")
        return real_redact(text)

    events = [interaction_event(question=f"Question {n}?") for n in range(MANY)]
    copies: list[int] = []
    real = rows.copy_rows

    def counted(model: Any, batch: Iterable[dict[str, Any]]) -> None:
        copies.append(1)
        real(model, batch)

    with (
        mock.patch.object(ingestion, "redact", redact),
        mock.patch.object(rows, "copy_rows", counted),
    ):
        results = ingest(*events)
    assert copies == [1], "one COPY, not refused"
    assert results[LATE].status == "invalid"
    assert results[LATE].errors.keys() == {"non_field_errors"}
    assert sum(r.status == "created" for r in results) == MANY - 1
    assert Interaction.objects.count() == MANY - 1
