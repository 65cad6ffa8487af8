"""Celery tasks of evaluation runs, called synchronously and through real
workers on Redis (one of them SIGKILLed mid-run)."""

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User

from config.celery import app as celery_app
from evaluation.models import (
    EvaluationChunk,
    EvaluationRun,
    GoldenSetSnapshot,
)
from evaluation.runs import tasks
from evaluation.runs.services import start_run
from registry.models import ModelVersion, PromptTemplate, PromptVersion
from registry.services import register_model_version
from targets.models import TargetDatabase
from tests.evaluation.chat_server import Reply, answer_from, chat_server
from tests.evaluation.runs.run_fixtures import (
    ITEMS,
    add_goldens,
    prompt_with,
    snapshot_of,
)


@pytest.fixture
def snapshot(target_db: TargetDatabase) -> GoldenSetSnapshot:
    return snapshot_of(add_goldens(target_db))


@pytest.fixture
def perfect(template: PromptTemplate, ml_lead: User) -> PromptVersion:
    return prompt_with(template, ml_lead, correct=range(6))


def test_process_chunk_task_evaluates_its_chunk(
    perfect: PromptVersion, model_v1: ModelVersion, snapshot: GoldenSetSnapshot
) -> None:
    run = start_run(
        prompt_version=perfect,
        model_version=model_v1,
        snapshot=snapshot,
        acting_user=None,
        chunk_size=4,
        enqueue=False,
    )
    tasks.process_chunk(run.chunks.get(index=0).pk)
    run.refresh_from_db()
    assert run.status == EvaluationRun.Status.RUNNING and run.done == 4
    tasks.process_chunk(run.chunks.get(index=1).pk)
    run.refresh_from_db()
    assert run.status == EvaluationRun.Status.SUCCEEDED and run.done == 6


def test_tasks_for_missing_rows_log_and_return(
    db: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="evaluation.runs.tasks"):
        tasks.dispatch_run(987654)
        tasks.send_regression_alert.apply(args=[987654]).get()
    tasks.process_chunk(987654)  # a chunk that no longer exists: nothing to do
    assert "run 987654 does not exist" in caplog.text
    assert "alert 987654 does not exist" in caplog.text


def test_chunk_task_acknowledges_late_and_is_requeued_if_its_worker_dies() -> None:
    chunk_task = celery_app.tasks["evaluation.process_chunk"]
    assert chunk_task.acks_late is True
    assert chunk_task.reject_on_worker_lost is True
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert visibility > settings.CELERY_TASK_TIME_LIMIT


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.broker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_run_survives_a_worker_killed_mid_run_with_one_result_per_item(
    perfect: PromptVersion,
    snapshot: GoldenSetSnapshot,
    ml_lead: User,
    celery_workers: Callable[..., subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answer = answer_from({q: sql for q, _, sql, _ in ITEMS})

    def slow(body: dict[str, Any]) -> Reply:
        reply = answer(body)
        reply.delay_s = 0.4
        return reply

    with chat_server(slow) as server:
        monkeypatch.setenv("LOOPGATE_ENDPOINT_SLOW_URL", server.url)
        model = register_model_version(
            name="slow-chat",
            provider="openai",
            model_identifier="tiny-sql",
            generation_parameters={},
            endpoint_name="SLOW",
            acting_user=ml_lead,
        )
        first = celery_workers("first", CELERY_VISIBILITY_TIMEOUT="4")
        run = start_run(
            prompt_version=perfect,
            model_version=model,
            snapshot=snapshot,
            acting_user=ml_lead,
            chunk_size=2,
        )

        # Kill while a chunk is in flight: its first chunk is stored and the
        # worker has already asked the model about the next chunk's items.
        def mid_chunk() -> bool:
            run.refresh_from_db()
            return run.done >= 2 and len(server.requests) > run.done

        _wait(mid_chunk, 60, "the first worker to be inside its second chunk")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        run.refresh_from_db()
        assert run.status == EvaluationRun.Status.RUNNING and run.done < run.total
        # A worker restores unacknowledged messages older than the visibility
        # timeout when it starts (and on a slow periodic sweep afterwards).
        time.sleep(5)
        celery_workers("second", CELERY_VISIBILITY_TIMEOUT="4")
        _wait(
            lambda: (
                EvaluationRun.objects.get(pk=run.pk).status
                not in (EvaluationRun.Status.QUEUED, EvaluationRun.Status.RUNNING)
            ),
            90,
            "the run to finish on the second worker",
        )
    run.refresh_from_db()
    assert run.status == EvaluationRun.Status.SUCCEEDED
    assert run.done == run.total == 6 and run.errors == 0
    items = list(run.results.values_list("golden_example_id", flat=True))
    assert sorted(items) == sorted(set(items)) and len(items) == 6
    assert run.summary["overall"]["execution_accuracy"] == 1.0
    chunks = list(run.chunks.values_list("status", "deliveries"))
    assert all(status == EvaluationChunk.Status.DONE for status, _ in chunks)
    # The chunk in flight at the kill was delivered again to the second worker.
    assert max(deliveries for _, deliveries in chunks) == 2
