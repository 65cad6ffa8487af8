"""The retraining cycle's steps after validation: build, evaluate, decide, shadow.

Orchestrated by `governance.cycle.run_cycle`; each step reuses what an earlier
attempt of the same cycle stored, so a resumed cycle repeats no write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from config.celery import app as celery_app
from evaluation.models import EvaluationRun, GoldenExample, RegressionAlert
from evaluation.runs.alerts import raise_regression_alerts
from evaluation.runs.selectors import latest_run_for
from evaluation.runs.services import (
    ACTIVE,
    execute_run,
    start_run,
    wait_for_run,
)
from evaluation.spider import hardness
from governance import breaker
from governance.cycle_decide import evidence, settle
from governance.cycle_models import RetrainingCycle
from governance.cycle_rules import (
    APPROVED,
    PRODUCTION,
    ChangelogFacts,
    CycleFacts,
    ShotCandidate,
    changelog,
    decide,
    select_few_shot,
)
from governance.dataset_checks import Validation, export_training_data
from registry.content import content_hash
from registry.models import PromptVersion
from registry.services import create_prompt_version

if TYPE_CHECKING:
    from governance.cycle import CycleOptions, CycleOutcome, StepRecorder

Status = RetrainingCycle.Status


@dataclass(frozen=True)
class Progress:
    """What the cycle is doing, for progress bars: a step, or items of a run."""

    step: str
    done: int = 0
    total: int = 0


ProgressCallback = Callable[[Progress], None]
SHOWN_ITEMS = 10


def describe_reuse(cycle: RetrainingCycle, outcome: CycleOutcome) -> None:
    """List what a completed cycle already holds, for the caller to show."""
    outcome.reused.append(f"cycle #{cycle.pk} (completed)")
    if cycle.challenger_prompt is not None:
        outcome.reused.append(f"challenger prompt v{cycle.challenger_prompt.number}")
    for role in ("champion", "challenger"):
        run = getattr(cycle, f"{role}_run")
        if run is not None:
            outcome.reused.append(f"{role} run #{run.pk}")
    if cycle.decision is not None:
        outcome.reused.append(
            f"decision #{cycle.decision.sequence} ({cycle.decision.decision})"
        )
    if cycle.promotion_request is not None:
        request = cycle.promotion_request
        outcome.reused.append(f"promotion request #{request.pk} ({request.status})")


def _segment(sql: str, dialect: str) -> str:
    try:
        return hardness(sql, dialect=dialect)
    except ValueError:
        return GoldenExample.Difficulty.UNKNOWN


def _pool(
    validation: Validation, dialect: str
) -> list[ShotCandidate]:  # production first, then approvals newest first
    pool = [
        ShotCandidate(
            e["question"].strip(),
            e["sql"].strip(),
            _segment(e["sql"], dialect),
            PRODUCTION,
            i,
        )
        for i, e in enumerate(validation.production_clean)
    ]
    newest = sorted(
        validation.usable, key=lambda r: (r["approved_at"], r["review_item"])
    )[::-1]
    pool += [
        ShotCandidate(
            r["question"].strip(), r["sql"].strip(), r["segment"], APPROVED, i
        )
        for i, r in enumerate(newest)
    ]
    return pool


def _challenger_prompt(
    cycle: RetrainingCycle, validation: Validation, options: CycleOptions
) -> tuple[PromptVersion | None, dict[str, Any]]:
    """The refreshed prompt (existing or new), or None when it equals production."""
    production = cycle.champion_prompt
    assert production is not None and cycle.dataset is not None  # noqa: S101
    dialect = cycle.template.target_database.dialect
    selection = select_few_shot(
        _pool(validation, dialect),
        max_per_segment=options.max_per_segment,
        max_total=options.max_total,
    )
    examples = [c.as_example() for c in selection.examples]
    before = {(e["question"], e["sql"]) for e in production.few_shot_examples}
    after = {(e["question"], e["sql"]) for e in examples}
    numbers: dict[str, Any] = {
        "examples": len(examples),
        "by_segment": selection.per_segment,
        "added": len(after - before),
        "removed": len(before - after),
        "kept": len(after & before),
        "over_bound": selection.over_bound,
        "duplicates": selection.duplicates,
    }
    if examples == production.few_shot_examples:
        return production, numbers
    content = {
        "template_text": production.template_text,
        "few_shot_examples": examples,
        "parameters": production.parameters,
    }
    existing = cycle.template.versions.filter(content_hash=content_hash(content))
    if (found := existing.first()) is not None:
        return found, {**numbers, "reused_version": found.number}
    dataset = cycle.dataset
    counts = cycle.validation.get("contamination", {}).get("approved", {})
    shots = cycle.validation.get("contamination", {}).get("production_examples", {})
    text = changelog(
        ChangelogFacts(
            cycle=cycle.pk,
            dataset=dataset.pk,
            dataset_hash=dataset.content_hash,
            window=f"{dataset.manifest['window']['start'] or 'start'} to "
            f"{dataset.manifest['window']['end']}",
            production_version=production.number,
            selection=selection,
            added=numbers["added"],
            removed=numbers["removed"],
            kept=numbers["kept"],
            contamination=counts,
            invalid=len(cycle.validation.get("schema", {}).get("invalid", [])),
            bounds={
                "max_per_segment": options.max_per_segment,
                "max_total": options.max_total,
            },
            extra=(
                [f"Production examples dropped as contaminated: {shots['excluded']}."]
                if shots.get("excluded")
                else []
            ),
        )
    )
    version = create_prompt_version(
        template=cycle.template,
        author=cycle.requested_by or cycle.template.owner,
        parent=production,
        changelog=text,
        **content,
    )
    return version, numbers


def build(
    cycle: RetrainingCycle,
    validation: Validation,
    options: CycleOptions,
    outcome: CycleOutcome,
    recorder: StepRecorder,
) -> CycleFacts | None:
    """Build (or reuse) the challenger; log an early decision and stop if the
    facts already settle the cycle. Returns the facts for the decision."""
    started = recorder.begin("build")
    facts = CycleFacts(
        breaker_halted=breaker.is_halted(cycle.template),
        has_golden_snapshot=cycle.golden_snapshot is not None,
        blocking_findings=tuple(validation.blocking),
        usable_examples=len(validation.usable),
        min_examples=options.min_examples,
    )
    ruling = decide(facts)
    if ruling is None:
        if cycle.challenger_prompt is not None:
            outcome.reused.append(
                f"challenger prompt v{cycle.challenger_prompt.number}"
            )
            numbers: dict[str, Any] = {"prompt_version": cycle.challenger_prompt.number}
            status = "reused"
        else:
            prompt, numbers = _challenger_prompt(cycle, validation, options)
            cycle.challenger_prompt = prompt
            cycle.save(update_fields=["challenger_prompt"])
            status = "reused" if "reused_version" in numbers else "ok"
        identical = (cycle.challenger_prompt, cycle.challenger_model) == (
            cycle.champion_prompt,
            cycle.champion_model,
        )
        facts = replace(facts, challenger_identical=identical)
        ruling = decide(facts)
        if ruling is None:
            recorder.end(started, status=status, numbers=numbers)
            return facts
    recorder.end(started, status="skipped", detail=ruling.reason)
    settle(cycle, ruling, evidence(cycle, None), options, outcome)
    return None


def export(cycle: RetrainingCycle, validation: Validation) -> dict[str, Any]:
    """The optional fine-tuning export of the cycle's dataset."""
    assert cycle.dataset is not None and cycle.champion_prompt is not None  # noqa: S101
    return export_training_data(
        dataset=cycle.dataset,
        usable=validation.usable,
        production=cycle.champion_prompt,
    )


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
    """Evaluate champion then challenger on the golden snapshot; True when done.

    In process without a broker; on workers with one (waiting up to the
    options' timeout, or returning False at once with `wait=False`).
    """
    started = recorder.begin("evaluate")
    inline = bool(celery_app.conf.task_always_eager)
    runs = []
    for role in ("champion", "challenger"):
        run, reused = _run(cycle, role, inline)
        if reused:
            outcome.reused.append(f"{role} run #{run.pk} ({run.status})")
        runs.append(run)
    total = sum(run.total for run in runs)

    def tick(_: EvaluationRun) -> None:
        if recorder.on_progress is not None:
            done = sum(run.done for run in runs)
            recorder.on_progress(Progress(step="evaluate", done=done, total=total))

    for run in runs:
        if run.status not in ACTIVE:
            continue
        if inline:
            execute_run(run=run, on_progress=tick)
        elif wait:
            wait_for_run(run=run, timeout_s=options.timeout_s, on_progress=tick)
        else:
            run.refresh_from_db()
    waiting = [run for run in runs if run.status in ACTIVE]
    numbers: dict[str, Any] = {
        "champion_run": runs[0].pk,
        "challenger_run": runs[1].pk,
    }
    if waiting:
        recorder.end(started, status="waiting", numbers=numbers)
        outcome.waiting = "evaluation runs " + ", ".join(f"#{r.pk}" for r in waiting)
        return False
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
