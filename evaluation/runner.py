"""Evaluation runs: start, process chunks, finish, cancel, wait.

A run is split into chunks (rows of `EvaluationChunk`) when it starts; each chunk
is one Celery task. Every write is idempotent per (run, example): a redelivered or
duplicated chunk finds its results stored and writes nothing twice. State moves
under a row lock on the run, taken before the chunk's, so concurrent chunks count
progress exactly and exactly one of them finishes the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from audit.services import record_event
from evaluation.backends import Backend, Generation, backend_for, check_backend
from evaluation.goldcache import gold_results_for
from evaluation.models import (
    EvaluationChunk,
    EvaluationResult,
    EvaluationRun,
    GoldenExample,
    GoldenSetSnapshot,
    SnapshotItem,
)
from evaluation.run_exceptions import BackendConfigurationError, RunError, RunStateError
from evaluation.scoring import SQLGLOT_VERSION, GoldResult, score_item
from evaluation.summaries import ItemOutcome, summarize
from registry.models import ModelVersion, PromptVersion
from targets.execution import sandbox_for_target
from targets.sandbox import SandboxError
from targets.schema import sqlglot_schema

__all__ = [
    "ACTIVE",
    "cancel_run",
    "enqueue_chunks",
    "execute_run",
    "process_chunk",
    "resume_run",
    "start_run",
    "wait_for_run",
]

logger = logging.getLogger(__name__)

ACTIVE = (EvaluationRun.Status.QUEUED, EvaluationRun.Status.RUNNING)
ProgressCallback = Callable[[EvaluationRun], None]


@transaction.atomic
def start_run(
    *,
    prompt_version: PromptVersion,
    model_version: ModelVersion,
    snapshot: GoldenSetSnapshot,
    acting_user: User | None,
    mode: str = EvaluationRun.Mode.SPIDER,
    chunk_size: int | None = None,
    enqueue: bool = True,
) -> EvaluationRun:
    """Create a run of the pair on the snapshot and enqueue its chunks on commit.

    Idempotent while active: the same (pair, snapshot, mode) already queued or
    running is returned instead of a second run. A model version that cannot run
    here (missing endpoint variables) is refused. `enqueue=False` leaves the
    chunks for `execute_run` (in-process). Records `evaluation.run.requested`.
    """
    if mode not in EvaluationRun.Mode.values:
        raise RunError(f"Unknown scoring mode {mode!r}.", field="mode")
    size = settings.EVALUATION_CHUNK_SIZE if chunk_size is None else chunk_size
    if size < 1:
        raise RunError("A chunk holds at least one item.", field="chunk_size")
    check_backend(model_version)
    pair = {
        "prompt_version": prompt_version,
        "model_version": model_version,
        "snapshot": snapshot,
        "mode": mode,
    }
    active = EvaluationRun.objects.filter(**pair, status__in=ACTIVE).first()
    if active is not None:
        return active
    ids = list(
        SnapshotItem.objects.filter(snapshot=snapshot)
        .order_by("golden_example_id")
        .values_list("golden_example_id", flat=True)
    )
    run = EvaluationRun.objects.create(
        **pair,
        total=len(ids),
        sqlglot_version=SQLGLOT_VERSION,
        requested_by=acting_user,
    )
    EvaluationChunk.objects.bulk_create(
        EvaluationChunk(run=run, index=i, example_ids=ids[start : start + size])
        for i, start in enumerate(range(0, len(ids), size))
    )
    record_event(
        event_type="evaluation.run.requested",
        actor=acting_user,
        subject=run,
        data={
            "prompt_version": prompt_version.pk,
            "model_version": model_version.pk,
            "snapshot": snapshot.pk,
            "mode": mode,
            "items": len(ids),
        },
    )
    if enqueue:
        from evaluation.tasks import dispatch_run

        dispatch_run.delay_on_commit(run.pk)  # type: ignore[attr-defined]  # Celery makes Django-app tasks DjangoTask
    return run


def enqueue_chunks(*, run: EvaluationRun) -> int:
    """Send one task per pending chunk of an active run; return how many.

    Safe to repeat: a chunk processed twice writes nothing twice.
    """
    from evaluation.tasks import process_chunk as process_chunk_task

    if run.status not in ACTIVE:
        return 0
    pending = list(
        run.chunks.filter(status=EvaluationChunk.Status.PENDING).values_list(
            "pk", flat=True
        )
    )
    for chunk_id in pending:
        process_chunk_task.delay(chunk_id)
    return len(pending)


@transaction.atomic
def resume_run(*, run: EvaluationRun, acting_user: User | None) -> int:
    """Re-enqueue the pending chunks of an active run (lost broker messages).

    Records `evaluation.run.resumed`; returns the number of chunks sent.
    """
    run = EvaluationRun.objects.select_for_update().get(pk=run.pk)
    if run.status not in ACTIVE:
        raise RunStateError(f"Run {run.pk} is {run.status}; nothing to resume.")
    sent = run.chunks.filter(status=EvaluationChunk.Status.PENDING).count()
    record_event(
        event_type="evaluation.run.resumed",
        actor=acting_user,
        subject=run,
        data={"pending_chunks": sent},
    )
    transaction.on_commit(lambda: enqueue_chunks(run=run))
    return sent


@transaction.atomic
def cancel_run(
    *, run: EvaluationRun, acting_user: User | None, reason: str = ""
) -> EvaluationRun:
    """Stop a queued or running run: chunks not yet recorded write nothing.

    Records `evaluation.run.cancelled`; a finished run is a RunStateError (409).
    """
    run = EvaluationRun.objects.select_for_update().get(pk=run.pk)
    if run.status not in ACTIVE:
        raise RunStateError(
            f"Run {run.pk} is {run.status}; only queued or running runs can be "
            "cancelled."
        )
    run.status = EvaluationRun.Status.CANCELLED
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at"])
    record_event(
        event_type="evaluation.run.cancelled",
        actor=acting_user,
        subject=run,
        reason=reason,
        data={"done": run.done, "total": run.total},
    )
    return run


def _claim(chunk_id: int) -> EvaluationChunk | None:
    with transaction.atomic():
        run_id = (
            EvaluationChunk.objects.filter(pk=chunk_id)
            .values_list("run_id", flat=True)
            .first()
        )
        if run_id is None:
            return None
        run = EvaluationRun.objects.select_for_update().get(pk=run_id)
        chunk = EvaluationChunk.objects.select_for_update().get(pk=chunk_id)
        if chunk.status != EvaluationChunk.Status.PENDING or run.status not in ACTIVE:
            return None
        chunk.deliveries += 1
        chunk.save(update_fields=["deliveries", "updated_at"])
        if run.status == EvaluationRun.Status.QUEUED:
            run.status = EvaluationRun.Status.RUNNING
            run.started_at = timezone.now()
            run.save(update_fields=["status", "started_at"])
        if chunk.deliveries > settings.EVALUATION_MAX_DELIVERIES:
            _abandon(run, chunk)
            return None
    return chunk


def _abandon(run: EvaluationRun, chunk: EvaluationChunk) -> None:
    # A chunk whose worker died on every delivery would loop forever under late
    # acknowledgement; its items are recorded as errors so the run can finish.
    message = (
        f"abandoned: a worker died on each of {chunk.deliveries - 1} deliveries of "
        "this item's chunk"
    )
    EvaluationResult.objects.bulk_create(
        [
            EvaluationResult(
                run=run,
                golden_example_id=example_id,
                error=message,
                error_kind="abandoned",
                scored=False,
                attempts=0,
            )
            for example_id in chunk.example_ids
        ],
        ignore_conflicts=True,
    )
    chunk.status = EvaluationChunk.Status.ABANDONED
    chunk.save(update_fields=["status", "updated_at"])
    logger.error("run %s chunk %s abandoned", run.pk, chunk.index)
    _progress(run)


def _unscored(
    run: EvaluationRun,
    example: GoldenExample,
    generation: Generation,
    error: str,
    kind: str,
) -> EvaluationResult:
    return EvaluationResult(
        run=run,
        golden_example=example,
        predicted_sql=generation.sql,
        error=error,
        error_kind=kind,
        scored=False,
        latency_ms=generation.latency_ms if generation.attempts else None,
        attempts=generation.attempts,
    )


def _evaluate(
    run: EvaluationRun,
    backend: Backend | BackendConfigurationError,
    example: GoldenExample,
    gold: GoldResult | str,
) -> EvaluationResult:
    target = example.target_database
    if isinstance(gold, str):
        # Unscorable whatever the prediction: no request is spent on it.
        skipped = Generation("", 0.0, 0)
        return _unscored(run, example, skipped, f"golden query: {gold}", "gold_failed")
    if isinstance(backend, BackendConfigurationError):
        failed = Generation("", 0.0, 0)
        return _unscored(run, example, failed, backend.message, "configuration")
    generation = backend.generate(
        example.question,
        database=target.name,
        schema=target.schema,
        dialect=target.dialect,
    )
    if not generation.ok:
        return _unscored(
            run, example, generation, generation.error, generation.error_kind
        )
    try:
        score = score_item(
            generation.sql,
            gold,
            sandbox_for_target(target),
            mode=run.mode,  # type: ignore[arg-type]
            dialect=target.dialect,
            schema=sqlglot_schema(target.schema),
        )
    except (SandboxError, ValueError, RecursionError) as exc:
        return _unscored(run, example, generation, str(exc), "scoring_error")
    return EvaluationResult(
        run=run,
        golden_example=example,
        predicted_sql=generation.sql,
        exact_match=score.exact_match,
        executed=score.executed,
        execution_match=score.execution_match,
        row_count_ok=score.row_count_ok,
        error=score.error,
        error_kind=score.error_kind,
        latency_ms=generation.latency_ms,
        attempts=generation.attempts,
    )


def process_chunk(*, chunk_id: int) -> None:
    """Evaluate one chunk's items not yet stored, then record them.

    Callers: the `evaluation.process_chunk` task and `execute_run`. A no-op for a
    finished, abandoned or cancelled chunk/run; stops early when the run is
    cancelled meanwhile. Idempotent per (run, example).
    """
    chunk = _claim(chunk_id)
    if chunk is None:
        return
    run = EvaluationRun.objects.select_related(
        "snapshot", "model_version", "prompt_version__template__target_database"
    ).get(pk=chunk.run_id)
    stored = set(
        run.results.filter(golden_example_id__in=chunk.example_ids).values_list(
            "golden_example_id", flat=True
        )
    )
    examples = list(
        GoldenExample.objects.filter(pk__in=set(chunk.example_ids) - stored)
        .select_related("target_database")
        .order_by("pk")
    )
    golds = gold_results_for(
        snapshot=run.snapshot,
        examples=examples,
        mode=run.mode,  # type: ignore[arg-type]
    )
    backend: Backend | BackendConfigurationError
    try:
        backend = backend_for(
            prompt_version=run.prompt_version, model_version=run.model_version
        )
    except BackendConfigurationError as exc:
        backend = exc
    results = []
    checked = time.monotonic()
    for example in examples:
        if time.monotonic() - checked > 1.0:
            checked = time.monotonic()
            if not EvaluationRun.objects.filter(pk=run.pk, status__in=ACTIVE).exists():
                logger.info("run %s stopped; chunk %s halts", run.pk, chunk.index)
                return
        results.append(_evaluate(run, backend, example, golds[example.pk]))
    _record(chunk, results)


@transaction.atomic
def _record(chunk: EvaluationChunk, results: list[EvaluationResult]) -> None:
    run = EvaluationRun.objects.select_for_update().get(pk=chunk.run_id)
    if run.status != EvaluationRun.Status.RUNNING:
        return
    EvaluationResult.objects.bulk_create(results, ignore_conflicts=True)
    chunk.status = EvaluationChunk.Status.DONE
    chunk.save(update_fields=["status", "updated_at"])
    _progress(run)


def _progress(run: EvaluationRun) -> None:
    counts = run.results.aggregate(
        done=Count("id"), errors=Count("id", filter=Q(scored=False))
    )
    run.done, run.errors = counts["done"], counts["errors"]
    # done/errors are excluded from the run's history: a progress tick is not a
    # change anyone audits, so no history row is written per chunk.
    EvaluationRun.objects.filter(pk=run.pk).update(done=run.done, errors=run.errors)
    if run.done >= run.total:
        _finish(run)


def _finish(run: EvaluationRun) -> None:
    from evaluation.alerts import raise_regression_alerts

    rows = run.results.values_list(
        "exact_match",
        "executed",
        "execution_match",
        "row_count_ok",
        "latency_ms",
        "golden_example__domain",
        "golden_example__difficulty",
    )
    run.summary = summarize(ItemOutcome(*row) for row in rows)
    failed = run.total > 0 and run.errors >= run.total
    run.status = (
        EvaluationRun.Status.FAILED if failed else EvaluationRun.Status.SUCCEEDED
    )
    run.finished_at = timezone.now()
    run.save(update_fields=["summary", "status", "finished_at"])
    record_event(
        event_type="evaluation.run.finished",
        actor=None,
        subject=run,
        data={
            "status": run.status,
            "total": run.total,
            "errors": run.errors,
            "overall": run.summary["overall"],
        },
    )
    if run.status == EvaluationRun.Status.SUCCEEDED:
        raise_regression_alerts(run=run)


def execute_run(
    *, run: EvaluationRun, on_progress: ProgressCallback | None = None
) -> EvaluationRun:
    """Process every pending chunk of `run` in this process, in order.

    For callers without workers (the command's --inline, the demo, tests);
    `on_progress` is called with the refreshed run after each chunk.
    """
    for chunk_id in run.chunks.filter(
        status=EvaluationChunk.Status.PENDING
    ).values_list("pk", flat=True):
        process_chunk(chunk_id=chunk_id)
        run.refresh_from_db()
        if on_progress is not None:
            on_progress(run)
        if run.status not in ACTIVE:
            break
    run.refresh_from_db()
    return run


def wait_for_run(
    *,
    run: EvaluationRun,
    timeout_s: float = 3600.0,
    poll_s: float = 0.5,
    on_progress: ProgressCallback | None = None,
) -> EvaluationRun:
    """Poll until the run is no longer queued or running; TimeoutError after
    `timeout_s`. Workers do the work; this only reads."""
    deadline = time.monotonic() + timeout_s
    while True:
        run.refresh_from_db()
        if on_progress is not None:
            on_progress(run)
        if run.status not in ACTIVE:
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run.pk} still {run.status} after {timeout_s} s")
        time.sleep(poll_s)
