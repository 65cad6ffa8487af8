"""Evaluation runs: start, enqueue, resume, cancel, run in process, wait.

A run is split into chunks (rows of `EvaluationChunk`) when it starts; each chunk
is one Celery task (`evaluation.runs.chunks.process_chunk` does the work).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from audit.services import record_event
from evaluation.backends import check_backend
from evaluation.engine_neighbours import NeighboursUnavailable, neighbour_locations
from evaluation.models import (
    EvaluationChunk,
    EvaluationRun,
    GoldenSetSnapshot,
    SnapshotItem,
)
from evaluation.runs.chunks import ACTIVE, process_chunk
from evaluation.runs.exceptions import RunError, RunStateError
from evaluation.scoring import SQLGLOT_VERSION
from registry.models import ModelVersion, PromptVersion
from targets.models import TargetDatabase

__all__ = [
    "ACTIVE",
    "cancel_run",
    "enqueue_chunks",
    "execute_run",
    "resume_run",
    "start_run",
    "wait_for_run",
]

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
    if mode == EvaluationRun.Mode.SUITE:
        _guard_suite_targets(snapshot)
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
        from evaluation.runs.tasks import dispatch_run

        dispatch_run.delay_on_commit(run.pk)  # type: ignore[attr-defined]  # Celery makes Django-app tasks DjangoTask
    return run


def enqueue_chunks(*, run: EvaluationRun) -> int:
    """Send one task per pending chunk of an active run; return how many.

    Safe to repeat: a chunk processed twice writes nothing twice.
    """
    from evaluation.runs.tasks import process_chunk as process_chunk_task

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


def _guard_suite_targets(snapshot: GoldenSetSnapshot) -> None:
    """Refuse at once, naming the command to run, when an engine target of the
    snapshot has no up-to-date neighbours (its owner builds them; SQLite
    targets' are generated on first use), instead of failing every chunk."""
    targets = TargetDatabase.objects.filter(
        pk__in=snapshot.items.values("golden_example__target_database")
    ).exclude(engine=TargetDatabase.Engine.SQLITE)
    for target in targets.order_by("name"):
        try:
            neighbour_locations(target)
        except NeighboursUnavailable as exc:
            raise RunError(f"Suite mode: {exc}", field="mode") from None
