"""Run services: scoring every item once, the summary contract, gold reuse,
idempotent chunks, cancellation, bounded redeliveries, per-item failures."""

import datetime as dt
import math
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from pytest_django.fixtures import Settings as SettingsWrapper

from audit.models import AuditEvent
from config.celery import app as celery_app
from evaluation.exceptions import BackendConfigurationError
from evaluation.models import (
    EvaluationChunk,
    EvaluationResult,
    EvaluationRun,
    GoldenExample,
    GoldenSetSnapshot,
    GoldResultCache,
)
from evaluation.runs import chunks, services
from evaluation.runs import gold_cache as goldcache
from evaluation.runs.exceptions import (
    RunError,
    RunStateError,
)
from evaluation.runs.gold_cache import (
    decode_rows,
    encode_rows,
)
from evaluation.runs.summaries import (
    ItemOutcome,
    percentile,
    summarize,
)
from registry.models import ModelVersion, PromptTemplate, PromptVersion
from registry.services import register_model_version
from targets.models import TargetDatabase
from tests.evaluation.chat_server import Reply, answer_from, chat_server
from tests.evaluation.runs.run_fixtures import (
    ITEMS,
    add_goldens,
    finished_run,
    legacy_golden,
    legacy_snapshot,
    prompt_with,
    snapshot_of,
    verdicts,
)

METRIC_KEYS = {"exact_match", "execution_success", "execution_accuracy", "row_count_ok"}


@pytest.fixture
def eager() -> Iterator[None]:
    # Tasks run in process even when the suite runs with a broker configured.
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def goldens(target_db: TargetDatabase) -> list[GoldenExample]:
    return add_goldens(target_db)


@pytest.fixture
def snapshot(goldens: list[GoldenExample]) -> GoldenSetSnapshot:
    return snapshot_of(goldens)


@pytest.fixture
def perfect(template: PromptTemplate, ml_lead: User) -> PromptVersion:
    return prompt_with(template, ml_lead, correct=range(6))


def test_a_run_scores_every_item_once_and_writes_the_summary_contract(
    perfect: PromptVersion,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
) -> None:
    run = finished_run(perfect, model_v1, snapshot, chunk_size=4)
    assert run.status == EvaluationRun.Status.SUCCEEDED
    assert (run.total, run.done, run.errors) == (6, 6, 0)
    assert run.results.count() == 6 and run.chunks.count() == 2
    assert run.started_at <= run.finished_at
    assert set(run.summary) == {"overall", "segments", "gold_errors"}
    overall = run.summary["overall"]
    assert set(overall) == METRIC_KEYS | {"n", "latency_p95_ms"}
    assert overall["n"] == 6 and overall["execution_accuracy"] == 1.0
    assert isinstance(overall["latency_p95_ms"], float)
    assert set(run.summary["segments"]) == {
        "domain:concert_singer",
        "difficulty:easy",
        "difficulty:medium",
    }
    for segment in run.summary["segments"].values():
        assert set(segment) == METRIC_KEYS | {"n"}
    assert run.summary["segments"]["difficulty:medium"]["n"] == 3
    events = AuditEvent.objects.filter(subject_id=str(run.pk)).values_list(
        "event_type", "data"
    )
    finished = [data for kind, data in events if kind == "evaluation.run.finished"]
    assert finished == [
        {
            "status": "succeeded",
            "total": 6,
            "errors": 0,
            "gold_errors": 0,
            "overall": overall,
        }
    ]
    assert "evaluation.run.requested" in [kind for kind, _ in events]


def test_summary_counts_misses_per_segment_by_hand() -> None:
    outcomes = [
        ItemOutcome(True, True, True, True, 10.0, "sales", "easy"),
        ItemOutcome(False, True, False, True, 30.0, "sales", "hard"),
        ItemOutcome(False, False, False, False, None, "hr", "hard"),
        ItemOutcome(False, True, True, False, 20.0, "", "hard"),
    ]
    summary = summarize(outcomes)
    assert summary["overall"] == {
        "exact_match": 0.25,
        "execution_success": 0.75,
        "execution_accuracy": 0.5,
        "row_count_ok": 0.5,
        "n": 4,
        "latency_p95_ms": 30.0,
    }
    hard = summary["segments"]["difficulty:hard"]
    assert hard["n"] == 3 and hard["execution_accuracy"] == pytest.approx(1 / 3)
    assert summary["segments"]["domain:unspecified"]["n"] == 1
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.95) == 5.0
    assert percentile(list(map(float, range(1, 101))), 0.95) == 95.0


def test_retrieval_baseline_improves_exactly_when_useful_examples_are_added(
    prompt_v1: PromptVersion,
    template: PromptTemplate,
    ml_lead: User,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
) -> None:
    # prompt_v1 holds one counting example: only the counting question is right.
    baseline = finished_run(prompt_v1, model_v1, snapshot)
    assert verdicts(baseline) == {
        0: True,
        1: False,
        2: False,
        3: False,
        4: False,
        5: False,
    }
    unrelated = prompt_with(
        template,
        ml_lead,
        correct=[0],
        extra=[
            {
                "question": "How many stadiums are there?",
                "sql": "SELECT count(*) FROM stadium",
            }
        ],
    )
    assert verdicts(finished_run(unrelated, model_v1, snapshot)) == verdicts(baseline)
    useful = prompt_with(template, ml_lead, correct=[0, 2, 5])
    improved = finished_run(useful, model_v1, snapshot)
    assert {i for i, ok in verdicts(improved).items() if ok} == {0, 2, 5}
    assert improved.summary["overall"]["execution_accuracy"] == 0.5
    assert baseline.summary["overall"]["execution_accuracy"] == pytest.approx(1 / 6)


def test_gold_results_are_computed_once_per_snapshot_and_reused(
    perfect: PromptVersion,
    prompt_v1: PromptVersion,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    finished_run(perfect, model_v1, snapshot)
    assert GoldResultCache.objects.filter(snapshot=snapshot).count() == 6
    calls: list[str] = []
    real = goldcache.execute_gold

    def counting(sql: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(sql)
        return real(sql, *args, **kwargs)

    monkeypatch.setattr(goldcache, "execute_gold", counting)
    second = finished_run(prompt_v1, model_v1, snapshot)
    assert second.status == EvaluationRun.Status.SUCCEEDED and calls == []
    assert GoldResultCache.objects.filter(snapshot=snapshot).count() == 6
    # Another scoring mode is a different gold truth (DISTINCT kept in strict).
    finished_run(prompt_v1, model_v1, snapshot, mode="strict")
    assert len(calls) == 6


def test_gold_rows_round_trip_with_their_types() -> None:
    rows = [
        (1, 2.5, "x", None, True, b"\x00\xff", Decimal("1.10")),
        (
            dt.date(2024, 1, 2),
            dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            dt.time(1, 2),
        ),
        (dt.timedelta(seconds=90), uuid.UUID(int=7), float("inf"), 2**70),
    ]
    decoded = decode_rows(encode_rows(rows))
    assert decoded == rows
    assert [type(v) for v in decoded[0]] == [type(v) for v in rows[0]]
    assert math.isnan(decode_rows(encode_rows([(float("nan"),)]))[0][0])


def test_a_redelivered_chunk_writes_nothing_twice(
    perfect: PromptVersion, model_v1: ModelVersion, snapshot: GoldenSetSnapshot
) -> None:
    run = services.start_run(
        prompt_version=perfect,
        model_version=model_v1,
        snapshot=snapshot,
        acting_user=None,
        chunk_size=2,
        enqueue=False,
    )
    first = run.chunks.get(index=0)
    chunks.process_chunk(chunk_id=first.pk)
    chunks.process_chunk(chunk_id=first.pk)  # a second delivery: a no-op
    first.refresh_from_db()
    assert first.deliveries == 1 and first.status == EvaluationChunk.Status.DONE
    # A duplicate that claimed the chunk before the first one recorded it.
    EvaluationChunk.objects.filter(pk=first.pk).update(
        status=EvaluationChunk.Status.PENDING
    )
    chunks.process_chunk(chunk_id=first.pk)
    stored = list(run.results.values_list("golden_example_id", "created_at"))
    duplicate = [
        EvaluationResult(run=run, golden_example_id=pk, predicted_sql="SELECT 0")
        for pk in first.example_ids
    ]
    first.status = EvaluationChunk.Status.PENDING
    chunks._record(first, duplicate)
    assert list(run.results.values_list("golden_example_id", "created_at")) == stored
    assert not run.results.filter(predicted_sql="SELECT 0").exists()
    run.refresh_from_db()
    assert run.done == 2 and run.status == EvaluationRun.Status.RUNNING
    final = services.execute_run(run=run)
    assert final.done == 6 and final.results.count() == 6
    assert final.status == EvaluationRun.Status.SUCCEEDED


def test_a_cancelled_run_stops_and_writes_nothing_more(
    perfect: PromptVersion,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    ml_lead: User,
) -> None:
    run = services.start_run(
        prompt_version=perfect,
        model_version=model_v1,
        snapshot=snapshot,
        acting_user=ml_lead,
        chunk_size=2,
        enqueue=False,
    )
    chunks.process_chunk(chunk_id=run.chunks.get(index=0).pk)
    services.cancel_run(run=run, acting_user=ml_lead, reason="wrong snapshot")
    final = services.execute_run(run=run)
    assert final.status == EvaluationRun.Status.CANCELLED
    assert final.results.count() == 2 and final.done == 2 and final.finished_at
    assert final.summary == {}
    assert run.chunks.filter(deliveries=0).count() == 2
    event = AuditEvent.objects.get(event_type="evaluation.run.cancelled")
    assert event.actor == ml_lead and event.reason == "wrong snapshot"
    with pytest.raises(RunStateError):
        services.cancel_run(run=final, acting_user=ml_lead)


def test_a_chunk_whose_workers_keep_dying_is_abandoned_and_the_run_finishes(
    perfect: PromptVersion,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    settings: SettingsWrapper,
) -> None:
    settings.EVALUATION_MAX_DELIVERIES = 3
    run = services.start_run(
        prompt_version=perfect,
        model_version=model_v1,
        snapshot=snapshot,
        acting_user=None,
        chunk_size=4,
        enqueue=False,
    )
    poison = run.chunks.get(index=0)
    # Three deliveries started and never recorded: their workers died.
    EvaluationChunk.objects.filter(pk=poison.pk).update(deliveries=3)
    final = services.execute_run(run=run)
    poison.refresh_from_db()
    assert poison.status == EvaluationChunk.Status.ABANDONED
    assert final.status == EvaluationRun.Status.SUCCEEDED
    assert (final.done, final.errors) == (6, 4)
    abandoned = final.results.filter(error_kind="abandoned")
    assert abandoned.count() == 4 and not abandoned.filter(scored=True).exists()
    assert final.summary["overall"]["execution_accuracy"] == pytest.approx(2 / 6)


def test_a_failing_golden_query_is_recorded_on_its_item_only(
    perfect: PromptVersion,
    model_v1: ModelVersion,
    goldens: list[GoldenExample],
    target_db: TargetDatabase,
) -> None:
    broken = legacy_golden(
        target_db, "How many managers?", "SELECT count(*) FROM manager"
    )
    run = finished_run(perfect, model_v1, legacy_snapshot([*goldens, broken]))
    assert run.status == EvaluationRun.Status.SUCCEEDED
    assert (run.done, run.errors) == (7, 1)
    item = run.results.get(golden_example=broken)
    assert item.error_kind == "gold_error" and not item.scored
    assert "no such table" in item.error and item.attempts == 0
    # Left out of every rate, not counted as the model's miss.
    assert run.summary["overall"]["execution_accuracy"] == 1.0
    assert run.summary["overall"]["n"] == 6
    assert run.summary["segments"]["domain:concert_singer"]["n"] == 6
    assert run.summary["gold_errors"] == [
        {"golden_example": broken.pk, "error": item.error}
    ]


def chat_model(ml_lead: User, name: str = "chat") -> ModelVersion:
    return register_model_version(
        name=name,
        provider="openai",
        model_identifier="tiny-sql",
        generation_parameters={"temperature": 0},
        endpoint_name="RUNNER_TEST",
        acting_user=ml_lead,
    )


@pytest.fixture
def fast_retries(settings: SettingsWrapper) -> None:
    settings.EVALUATION_BACKEND_MAX_ATTEMPTS = 2
    settings.EVALUATION_BACKEND_BACKOFF_MS = 1
    settings.EVALUATION_BACKEND_TIMEOUT_S = 5


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    answers = {q: sql for q, _, sql, _ in ITEMS}
    answer = answer_from(answers)

    def respond(body: dict[str, Any]) -> Reply:
        if "French" in body["messages"][-1]["content"].rsplit("Question:", 1)[-1]:
            return Reply(status=503, content="overloaded")
        return answer(body)

    with chat_server(respond) as server:
        monkeypatch.setenv("LOOPGATE_ENDPOINT_RUNNER_TEST_URL", server.url)
        yield server


def test_backend_errors_are_recorded_per_item_and_never_fail_the_run(
    perfect: PromptVersion,
    snapshot: GoldenSetSnapshot,
    ml_lead: User,
    fast_retries: None,
    endpoint: Any,
) -> None:
    run = finished_run(perfect, chat_model(ml_lead), snapshot)
    assert run.status == EvaluationRun.Status.SUCCEEDED
    assert (run.done, run.errors) == (6, 1)
    failed = run.results.get(error_kind="server_error")
    assert "French" in failed.golden_example.question
    assert failed.attempts == 2 and "HTTP 503" in failed.error and not failed.scored
    assert run.results.filter(execution_match=True).count() == 5
    assert len(endpoint.requests) == 7


def test_a_run_where_no_item_could_be_generated_fails(
    perfect: PromptVersion,
    snapshot: GoldenSetSnapshot,
    ml_lead: User,
    fast_retries: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with chat_server(lambda body: Reply()) as server:
        dead_url = server.url
    monkeypatch.setenv("LOOPGATE_ENDPOINT_RUNNER_TEST_URL", dead_url)
    run = finished_run(perfect, chat_model(ml_lead), snapshot)
    assert run.status == EvaluationRun.Status.FAILED
    assert run.errors == 6
    assert set(run.results.values_list("error_kind", flat=True)) == {"connection"}


def test_start_run_refuses_bad_inputs_and_reuses_an_active_run(
    perfect: PromptVersion,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    ml_lead: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    common = {
        "prompt_version": perfect,
        "snapshot": snapshot,
        "acting_user": ml_lead,
        "enqueue": False,
    }
    with pytest.raises(RunError) as err:
        services.start_run(model_version=model_v1, mode="fuzzy", **common)
    assert err.value.field == "mode"
    with pytest.raises(RunError):
        services.start_run(model_version=model_v1, chunk_size=0, **common)
    monkeypatch.delenv("LOOPGATE_ENDPOINT_RUNNER_TEST_URL", raising=False)
    with pytest.raises(BackendConfigurationError):
        services.start_run(model_version=chat_model(ml_lead), **common)
    assert not EvaluationRun.objects.exists()
    first = services.start_run(model_version=model_v1, **common)
    assert services.start_run(model_version=model_v1, **common) == first
    assert services.start_run(model_version=model_v1, mode="bird", **common) != first


def test_starting_a_run_enqueues_it_on_commit(
    perfect: PromptVersion,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    ml_lead: User,
    eager: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = services.start_run(
            prompt_version=perfect,
            model_version=model_v1,
            snapshot=snapshot,
            acting_user=ml_lead,
            chunk_size=2,
        )
    assert len(callbacks) == 1
    run.refresh_from_db()
    assert run.status == EvaluationRun.Status.QUEUED and run.done == 0
    with django_capture_on_commit_callbacks(execute=True):
        callbacks[0]()
    finished = services.wait_for_run(run=run, timeout_s=5)
    assert finished.status == EvaluationRun.Status.SUCCEEDED and finished.done == 6


def test_resume_re_enqueues_only_pending_chunks(
    perfect: PromptVersion,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    ml_lead: User,
    eager: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    run = services.start_run(
        prompt_version=perfect,
        model_version=model_v1,
        snapshot=snapshot,
        acting_user=ml_lead,
        chunk_size=2,
        enqueue=False,
    )
    chunks.process_chunk(chunk_id=run.chunks.get(index=0).pk)
    with django_capture_on_commit_callbacks(execute=True):
        sent = services.resume_run(run=run, acting_user=ml_lead)
    assert sent == 2
    run.refresh_from_db()
    assert run.status == EvaluationRun.Status.SUCCEEDED
    assert run.chunks.get(index=0).deliveries == 1
    assert AuditEvent.objects.filter(event_type="evaluation.run.resumed").count() == 1
    with pytest.raises(RunStateError):
        services.resume_run(run=run, acting_user=ml_lead)
