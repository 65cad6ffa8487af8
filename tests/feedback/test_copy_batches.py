"""On PostgreSQL batches are stored by COPY, with the results of the row path:
created, duplicate, conflict and invalid per item, and one row per event id even
when batches race."""

import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.db import DataError, IntegrityError, connections, transaction

from feedback import ingestion, rows
from feedback.ingestion import ItemResult, ingest_events
from feedback.models import Feedback, Interaction
from tests.feedback.conftest import when

pytestmark = pytest.mark.postgres
Build = Callable[..., dict[str, Any]]
Outcome = list[tuple[str, str, list[str]]]


@pytest.fixture
def copies() -> Iterator[list[int]]:
    """The size of every COPY made while the fixture is active."""
    sizes: list[int] = []
    real = rows.copy_rows

    def spy(model: Any, batch: Iterable[dict[str, Any]]) -> None:
        # Batches may be generators (rows built as they are sent).
        batch = list(batch)
        sizes.append(len(batch))
        real(model, batch)

    with mock.patch.object(rows, "copy_rows", spy):
        yield sizes


def outcome(results: list[ItemResult]) -> Outcome:
    return [(r.kind, r.status, sorted(r.errors)) for r in results]


def mixed_batch(interaction_event: Build, feedback_event: Build, ingest: Callable):
    """Store a few events, then build a batch that replays, contradicts and
    extends them, with invalid items in between."""
    stored = [interaction_event() for _ in range(2)]
    stored_signal = feedback_event(stored[0]["event_id"], type="thumbs_up")
    ingest(*stored, stored_signal)
    new = [interaction_event(question=f"Singers over {n}?") for n in range(5)]
    return [
        *new[:2],
        stored[0],  # replay
        {**stored[1], "question": "Another question?"},  # conflict
        {**new[2], "output_tokens": -1},  # invalid (validation)
        new[3],
        feedback_event(new[0]["event_id"], type="copied"),
        feedback_event(new[1]["event_id"], type="thumbs_down", comment="wrong"),
        stored_signal,  # replay
        {**stored_signal, "event_id": stored_signal["event_id"], "type": "copied"},
        feedback_event(new[2]["event_id"]),  # its interaction was invalid
        feedback_event(str(uuid.uuid4())),  # unknown interaction
        new[4],
        feedback_event(new[4]["event_id"], type="thumbs_up"),
    ]


EXPECTED: Outcome = [
    ("interaction", "created", []),
    ("interaction", "created", []),
    ("interaction", "duplicate", []),
    ("interaction", "conflict", ["event_id"]),
    ("interaction", "invalid", ["output_tokens"]),
    ("interaction", "created", []),
    ("feedback", "created", []),
    ("feedback", "created", []),
    ("feedback", "duplicate", []),
    ("feedback", "conflict", ["event_id"]),
    ("feedback", "invalid", ["interaction_id"]),
    ("feedback", "invalid", ["interaction_id"]),
    ("interaction", "created", []),
    ("feedback", "created", []),
]


@pytest.mark.django_db
def test_a_mixed_batch_has_the_same_results_by_copy_and_by_rows(
    interaction_event: Build,
    feedback_event: Build,
    ingest: Callable,
    copies: list[int],
) -> None:
    by_copy = outcome(ingest(*mixed_batch(interaction_event, feedback_event, ingest)))
    # Two stored interactions, then the new interactions and the new feedback.
    assert copies == [2, 4, 3]
    copies.clear()
    with mock.patch.object(rows, "COPY_MIN_ROWS", 10**9):
        by_rows = outcome(
            ingest(*mixed_batch(interaction_event, feedback_event, ingest))
        )
    assert copies == []
    assert by_copy == by_rows == EXPECTED
    assert Interaction.objects.count() == 2 * (2 + 4)
    assert Feedback.objects.count() == 2 * (1 + 3)


@pytest.mark.django_db
def test_copied_rows_equal_inserted_rows_column_by_column(
    interaction_event: Build, feedback_event: Build, ingest: Callable, copies: list
) -> None:
    def stored_values(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = [e["event_id"] for e in events if e["kind"] == "interaction"]
        names = [f.attname for f in Interaction._meta.concrete_fields]
        names.remove("event_id")
        names.remove("fingerprint")  # a hash over the event id too
        found = Interaction.objects.filter(pk__in=ids).order_by("question")
        return list(found.values(*names))

    at = when(minutes_ago=3)

    def pair(prefix: str) -> list[dict[str, Any]]:
        return [
            interaction_event(
                question=f"{prefix}: mail ann@example.com about singer {n}",
                retrieval_ids=["doc-1", f"doc-{n}"],
                analyst_id="" if n else "analyst-3",
                output_tokens=None if n else 12,
                occurred_at=at,
            )
            for n in range(2)
        ]

    by_copy = pair("same")
    ingest(*by_copy)
    with mock.patch.object(rows, "COPY_MIN_ROWS", 10**9):
        by_rows = pair("same")
        ingest(*by_rows)
    assert copies == [2]
    copied, inserted = stored_values(by_copy), stored_values(by_rows)
    for row in copied + inserted:
        row.pop("received_at")
    assert copied == inserted
    assert "ann@example.com" not in copied[0]["question"]
    assert copied[0]["retrieval_ids"] == ["doc-1", "doc-0"]
    assert (copied[0]["output_tokens"], copied[1]["output_tokens"]) == (12, None)


@pytest.mark.django_db
def test_a_refused_copy_surfaces_as_djangos_exception_and_stores_nothing(
    interaction_event: Build, ingest: Callable
) -> None:
    ingest(interaction_event())
    row = dict(Interaction.objects.values(*_attnames()).get())
    fresh = {**row, "event_id": uuid.uuid4()}
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.copy_rows(Interaction, [fresh, row])
    with pytest.raises(DataError), transaction.atomic():
        rows.copy_rows(
            Interaction, [fresh, {**row, "event_id": uuid.uuid4(), "country": "XYZ"}]
        )
    assert Interaction.objects.count() == 1
    rows.copy_rows(Interaction, [fresh])
    assert Interaction.objects.count() == 2


def _attnames() -> list[str]:
    return [f.attname for f in Interaction._meta.concrete_fields]


@pytest.mark.django_db
def test_ids_stored_after_the_check_fall_back_to_row_by_row_results(
    interaction_event: Build, ingest: Callable, copies: list[int]
) -> None:
    """A concurrent writer may store an id between the lookup and the COPY."""
    stored = [interaction_event() for _ in range(2)]
    ingest(*stored)
    batch = [interaction_event(), stored[0], interaction_event(), stored[1]]
    batch[3] = {**batch[3], "question": "Changed?"}
    copies.clear()
    with mock.patch.object(ingestion, "_settle_existing", lambda pending: None):
        results = ingest(*batch)
    assert copies == [4], "the COPY of all four was refused, then rows one by one"
    assert [r.status for r in results] == [
        "created",
        "duplicate",
        "created",
        "conflict",
    ]
    assert Interaction.objects.count() == 4


@pytest.mark.django_db
def test_a_row_the_database_refuses_costs_only_itself(
    interaction_event: Build, feedback_event: Build, ingest: Callable
) -> None:
    events = [interaction_event(question=f"Question {n}?") for n in range(4)]
    events.append(feedback_event(events[2]["event_id"]))
    real = rows.copy_rows

    def out_of_range(model: Any, batch: Iterable[dict[str, Any]]) -> None:
        def spoiled() -> Iterator[dict[str, Any]]:
            for row in batch:
                if row.get("question") == "Question 2?":
                    row["output_tokens"] = 2**40  # past a PostgreSQL integer
                yield row

        real(model, spoiled())

    with mock.patch.object(rows, "copy_rows", out_of_range):
        results = ingest(*events)
    assert [(r.status, sorted(r.errors)) for r in results] == [
        ("created", []),
        ("created", []),
        ("invalid", ["non_field_errors"]),
        ("created", []),
        ("invalid", ["interaction_id"]),
    ]
    assert Interaction.objects.count() == 3
    assert Feedback.objects.count() == 0


@pytest.mark.django_db
def test_sending_a_copied_batch_again_stores_nothing(
    interaction_event: Build,
    feedback_event: Build,
    ingest: Callable,
    copies: list[int],
) -> None:
    interactions = [interaction_event() for _ in range(10)]
    batch = interactions + [feedback_event(e["event_id"]) for e in interactions]
    first = ingest(*batch)
    again = ingest(*batch)
    assert copies == [10, 10]
    assert {r.status for r in first} == {"created"}
    assert {r.status for r in again} == {"duplicate"}
    assert (Interaction.objects.count(), Feedback.objects.count()) == (10, 10)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_overlapping_batches_store_each_id_once(
    interaction_event: Build, analyst: User, purge_events: None
) -> None:
    events = [interaction_event(question=f"Singers over {n}?") for n in range(300)]
    batches = [events[:200], events[100:]]
    # Both pass the lookup of stored ids before either copies: the overlap is
    # settled by the unique key during the COPY, not by the lookup.
    barrier = threading.Barrier(2, timeout=30)
    real = rows.copy_rows

    copied: list[str] = []

    def copy_together(model: Any, batch: Iterable[dict[str, Any]]) -> None:
        barrier.wait()
        try:
            real(model, batch)
        except IntegrityError:
            copied.append("refused")
            raise
        copied.append("stored")

    results: dict[int, list[ItemResult]] = {}

    def submit(n: int) -> None:
        try:
            results[n] = ingest_events(
                events=batches[n], acting_user=analyst, channel="api"
            )
        finally:
            connections.close_all()

    with mock.patch.object(rows, "copy_rows", copy_together):
        threads = [threading.Thread(target=submit, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert Interaction.objects.count() == 300
    # The later COPY met the other's ids and went row by row.
    assert sorted(copied) == ["refused", "stored"]
    statuses = {n: [r.status for r in results[n]] for n in (0, 1)}
    overlap = list(zip(statuses[0][100:], statuses[1][:100], strict=True))
    assert sorted(set(overlap)) in (
        [("created", "duplicate")],
        [("duplicate", "created")],
    )
    assert set(statuses[0][:100]) == set(statuses[1][100:]) == {"created"}
