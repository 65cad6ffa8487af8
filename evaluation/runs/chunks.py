"""Processing one chunk of a run: claim, generate, score, record, finish.

Every write is idempotent per (run, example): a redelivered or duplicated chunk
finds its results stored and writes nothing twice. State moves under a row lock
on the run, taken before the chunk's, so concurrent chunks count progress
exactly and exactly one of them finishes the run.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from audit.services import record_event
from evaluation.backends import Backend, Generation, backend_for
from evaluation.backends.chat import NO_SQL
from evaluation.engine_neighbours import open_neighbour_sandboxes
from evaluation.exceptions import BackendConfigurationError
from evaluation.models import (
    EvaluationChunk,
    EvaluationResult,
    EvaluationRun,
    GoldenExample,
)
from evaluation.neighbours import ensure_neighbours
from evaluation.runs.alerts import raise_regression_alerts
from evaluation.runs.gold_cache import gold_results_for
from evaluation.runs.summaries import (
    GOLD_ERROR,
    ItemOutcome,
    safety_summary,
    summarize,
)
from evaluation.safety import Restricted, parse_restricted, score_reply
from evaluation.scoring import GoldResult, ItemScore, score_item
from evaluation.suite import (
    SUITE_MODE,
    NeighbourSuite,
    apply_verdict,
    comparison_mode,
)
from targets.execution import sandbox_for_target, sandbox_limits
from targets.models import TargetDatabase
from targets.sandbox import SandboxError
from targets.schema import SchemaCaptureError, sqlglot_schema, sqlite_path

__all__ = ["ACTIVE", "process_chunk"]

logger = logging.getLogger(__name__)

ACTIVE = (EvaluationRun.Status.QUEUED, EvaluationRun.Status.RUNNING)


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


def _neighbour_suite(
    target: TargetDatabase, suites: dict[int, NeighbourSuite]
) -> NeighbourSuite:
    """The open suite of ``target``'s neighbours under DATA_DIR/neighbours.

    A SQLite target's neighbours are generated on first use; an engine target's
    were built by its owner (`build_neighbours`) and are read as its reader.
    Raises NeighboursUnavailable (a ValueError) when they are missing or stale.
    """
    if target.pk not in suites:
        if target.engine == TargetDatabase.Engine.SQLITE:
            neighbours = ensure_neighbours(
                sqlite_path(target.location),
                Path(settings.DATA_DIR) / "neighbours" / target.name,
            )
            limits = sandbox_limits()
            suites[target.pk] = NeighbourSuite.of_files(
                neighbours,
                timeout_s=limits.timeout_s,
                max_rows=limits.max_rows,
                max_bytes=limits.max_bytes,
            )
        else:
            sandboxes, names = open_neighbour_sandboxes(target)
            suites[target.pk] = NeighbourSuite(
                sandboxes, dialect=target.dialect, names=names
            )
    return suites[target.pk]


def _score(
    run: EvaluationRun,
    example: GoldenExample,
    sql: str,
    gold: GoldResult,
    suites: dict[int, NeighbourSuite],
) -> ItemScore:
    target = example.target_database
    score = score_item(
        sql,
        gold,
        sandbox_for_target(target),
        mode=comparison_mode(run.mode),
        dialect=target.dialect,
        schema=sqlglot_schema(target.schema),
    )
    if run.mode != SUITE_MODE or not score.execution_match:
        return score
    verdict = _neighbour_suite(target, suites).check(example.sql, sql)
    return apply_verdict(score, verdict)


def _evaluate_safety(
    run: EvaluationRun,
    backend: Backend | BackendConfigurationError,
    example: GoldenExample,
    restricted: Restricted | str,
) -> EvaluationResult:
    # A safety item is scored by rules on the reply; nothing of it runs.
    target = example.target_database
    if isinstance(restricted, str):
        failed = Generation("", 0.0, 0)
        return _unscored(run, example, failed, restricted, "configuration")
    if isinstance(backend, BackendConfigurationError):
        failed = Generation("", 0.0, 0)
        return _unscored(run, example, failed, backend.message, "configuration")
    generation = backend.generate(
        example.question,
        database=target.name,
        schema=target.schema,
        dialect=target.dialect,
    )
    # An empty reply is a refusal; any other failure leaves the item unscored.
    if not generation.ok and generation.error != NO_SQL:
        return _unscored(
            run, example, generation, generation.error, generation.error_kind
        )
    violations = score_reply(
        generation.sql,
        expect=example.expect,
        restricted=restricted,
        dialect=target.dialect,
        schema=sqlglot_schema(target.schema),
    )
    return EvaluationResult(
        run=run,
        golden_example=example,
        predicted_sql=generation.sql,
        error="; ".join(v.reason for v in violations),
        error_kind="safety_violation" if violations else "",
        safety_violations=[v.as_dict() for v in violations],
        latency_ms=generation.latency_ms,
        attempts=generation.attempts,
    )


def _restricted(run: EvaluationRun) -> Restricted | str:
    template = run.prompt_version.template
    try:
        return parse_restricted(template.restricted)
    except ValueError as exc:
        return f"template {template.name}: {exc}"


def _evaluate(
    run: EvaluationRun,
    backend: Backend | BackendConfigurationError,
    example: GoldenExample,
    gold: GoldResult | str,
    suites: dict[int, NeighbourSuite],
) -> EvaluationResult:
    target = example.target_database
    if isinstance(gold, str):
        # Unscorable whatever the prediction: no request is spent on it, and
        # the item is left out of the rates (summaries.GOLD_ERROR).
        skipped = Generation("", 0.0, 0)
        return _unscored(run, example, skipped, f"golden query: {gold}", GOLD_ERROR)
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
        score = _score(run, example, generation.sql, gold, suites)
    except (
        SandboxError,
        SchemaCaptureError,
        ValueError,
        RecursionError,
        OSError,
        sqlite3.Error,
    ) as exc:
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
        examples=[e for e in examples if e.kind == GoldenExample.Kind.REGULAR],
        mode=comparison_mode(run.mode),
    )
    restricted = _restricted(run)
    backend: Backend | BackendConfigurationError
    try:
        backend = backend_for(
            prompt_version=run.prompt_version, model_version=run.model_version
        )
    except BackendConfigurationError as exc:
        backend = exc
    results = []
    checked = time.monotonic()
    suites: dict[int, NeighbourSuite] = {}
    try:
        for example in examples:
            if time.monotonic() - checked > 1.0:
                checked = time.monotonic()
                if not EvaluationRun.objects.filter(
                    pk=run.pk, status__in=ACTIVE
                ).exists():
                    logger.info("run %s stopped; chunk %s halts", run.pk, chunk.index)
                    return
            if example.kind == GoldenExample.Kind.SAFETY:
                results.append(_evaluate_safety(run, backend, example, restricted))
            else:
                gold = golds[example.pk]
                results.append(_evaluate(run, backend, example, gold, suites))
    finally:
        for suite in suites.values():
            suite.close()
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
    rows = run.results.exclude(error_kind=GOLD_ERROR).values_list(
        "exact_match",
        "executed",
        "execution_match",
        "row_count_ok",
        "latency_ms",
        "golden_example__domain",
        "golden_example__difficulty",
    )
    gold_errors = run.results.filter(error_kind=GOLD_ERROR).values_list(
        "golden_example_id", "error"
    )
    run.summary = summarize((ItemOutcome(*row) for row in rows), gold_errors)
    safety = run.results.filter(golden_example__kind=GoldenExample.Kind.SAFETY)
    if safety.exists():
        run.summary["safety"] = safety_summary(
            safety.values_list("scored", "safety_violations")
        )
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
            "gold_errors": len(run.summary["gold_errors"]),
            "overall": run.summary["overall"],
        },
    )
    if run.status == EvaluationRun.Status.SUCCEEDED:
        raise_regression_alerts(run=run)
