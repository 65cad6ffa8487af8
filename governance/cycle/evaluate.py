"""Evaluate production's pair and the challenger on the golden snapshot.

In process without a broker; on workers with one.
"""

from __future__ import annotations

from typing import Any

from celery import current_app

from evaluation.models import EvaluationRun, GoldenSetSnapshot, RegressionAlert
from evaluation.runs.alerts import raise_regression_alerts
from evaluation.runs.selectors import latest_run_for
from evaluation.runs.services import ACTIVE as RUN_ACTIVE
from evaluation.runs.services import execute_run, start_run, wait_for_run
from governance.cycle.models import RetrainingCycle
from governance.cycle.progress import CycleOptions, CycleOutcome, Progress, StepRecorder
from governance.safety_gate import safety_suite


def _run(cycle: RetrainingCycle, role: str, inline: bool) -> tuple[EvaluationRun, bool]:
    """The role's run and whether an earlier run was reused."""
    run = getattr(cycle, f"{role}_run")
    if run is not None and run.status not in (
        EvaluationRun.Status.FAILED,
        EvaluationRun.Status.CANCELLED,
    ):
        return run, True
    prompt, model = getattr(cycle, f"{role}_prompt"), getattr(cycle, f"{role}_model")
    assert cycle.golden_snapshot is not None  # noqa: S101
    run = latest_run_for(
        prompt_version=prompt, model_version=model, snapshot=cycle.golden_snapshot
    )
    reused = run is not None
    if run is None:
        run = start_run(
            prompt_version=prompt,
            model_version=model,
            snapshot=cycle.golden_snapshot,
            acting_user=cycle.requested_by,
            enqueue=not inline,
        )
    setattr(cycle, f"{role}_run", run)
    cycle.save(update_fields=[f"{role}_run"])
    return run, reused


def _safety_run(
    cycle: RetrainingCycle, role: str, suite: GoldenSetSnapshot, inline: bool
) -> EvaluationRun:
    """The role's pair's run on the safety suite: the latest succeeded one, an
    active one (start_run returns it), or a new one."""
    prompt, model = getattr(cycle, f"{role}_prompt"), getattr(cycle, f"{role}_model")
    found = latest_run_for(prompt_version=prompt, model_version=model, snapshot=suite)
    return found or start_run(
        prompt_version=prompt,
        model_version=model,
        snapshot=suite,
        acting_user=cycle.requested_by,
        enqueue=not inline,
    )


def _safety_numbers(runs: list[EvaluationRun]) -> dict[str, Any]:
    return {
        role: {
            "run": run.pk,
            "violations": run.summary.get("safety", {}).get("violations"),
        }
        for role, run in zip(("champion", "challenger"), runs, strict=True)
    }


def _accuracy(run: EvaluationRun) -> float | None:
    value = run.summary.get("overall", {}).get("execution_accuracy")
    return round(value, 4) if value is not None else None


def evaluate(
    cycle: RetrainingCycle,
    options: CycleOptions,
    outcome: CycleOutcome,
    recorder: StepRecorder,
    wait: bool,
) -> bool:
    """Evaluate champion then challenger on the golden snapshot, and on the
    template's safety suite when it has one (the safety gate reads those runs);
    True when done.

    In process without a broker; on workers with one (waiting up to the
    options' timeout, or returning False at once with `wait=False`).
    """
    started = recorder.begin("evaluate")
    inline = bool(current_app.conf.task_always_eager)
    runs = []
    for role in ("champion", "challenger"):
        run, reused = _run(cycle, role, inline)
        if reused:
            outcome.reused.append(f"{role} run #{run.pk} ({run.status})")
        runs.append(run)
    suite = safety_suite(cycle.template)
    safety_runs = (
        [_safety_run(cycle, role, suite, inline) for role in ("champion", "challenger")]
        if suite is not None
        else []
    )
    total = sum(run.total for run in runs + safety_runs)

    def tick(_: EvaluationRun) -> None:
        if recorder.on_progress is not None:
            done = sum(run.done for run in runs + safety_runs)
            recorder.on_progress(Progress(step="evaluate", done=done, total=total))

    for run in runs + safety_runs:
        if run.status not in RUN_ACTIVE:
            continue
        if inline:
            execute_run(run=run, on_progress=tick)
        elif wait:
            wait_for_run(run=run, timeout_s=options.timeout_s, on_progress=tick)
        else:
            run.refresh_from_db()
    waiting = [run for run in runs + safety_runs if run.status in RUN_ACTIVE]
    numbers: dict[str, Any] = {
        "champion_run": runs[0].pk,
        "challenger_run": runs[1].pk,
    }
    if waiting:
        recorder.end(started, status="waiting", numbers=numbers)
        outcome.waiting = "evaluation runs " + ", ".join(f"#{r.pk}" for r in waiting)
        return False
    if safety_runs:
        numbers["safety"] = _safety_numbers(safety_runs)
    champion, challenger = runs
    alerts = []
    if challenger.status == EvaluationRun.Status.SUCCEEDED:
        raise_regression_alerts(run=challenger)
        alerts = list(
            RegressionAlert.objects.filter(run=challenger).values_list(
                "segment", flat=True
            )
        )
    numbers.update(
        {
            "items": total,
            "champion_accuracy": _accuracy(champion),
            "challenger_accuracy": _accuracy(challenger),
            "regression_alerts": alerts,
        }
    )
    recorder.end(started, numbers=numbers)
    return True
