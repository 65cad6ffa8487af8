"""The retraining cycle: collect, validate, build, evaluate, decide (and shadow).

One cycle per template and dataset snapshot. Every step is recorded on the
`RetrainingCycle` (status, timings, numbers) and every step can be repeated:
running the cycle again resumes an unfinished one, and when nothing was
approved since the latest dataset snapshot it returns that snapshot's cycle
without deciding anything twice. Callers: `manage.py run_cycle`, the weekly
Celery beat entry (`governance.run_weekly_cycles`) and the demo.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.exceptions import DomainError
from governance.cycle import build, collect, decide, evaluate, shadow
from governance.cycle.models import DatasetSnapshot, RetrainingCycle
from governance.cycle.progress import (
    ACTIVE,
    CycleOptions,
    CycleOutcome,
    Progress,
    ProgressCallback,
    StepRecorder,
    complete,
)
from governance.cycle.rules import DEFER
from governance.cycle.validate import validate_dataset
from governance.diversity import DEDUP_PREFIX, output_diversity
from governance.exceptions import GovernanceError, NotPermittedError
from governance.gates import current_snapshot
from governance.models import TriggerEvent
from governance.triggers import CHECK_REASONS, fire_trigger
from registry.models import Label, ModelVersion, PromptTemplate

__all__ = [
    "advance_scheduled_cycle",
    "run_cycle",
    "templates_to_retrain",
]

logger = logging.getLogger(__name__)
Status = RetrainingCycle.Status


def _create_cycle(
    template: PromptTemplate,
    acting_user: User | None,
    trigger: str,
    options: CycleOptions,
    dataset: DatasetSnapshot,
) -> RetrainingCycle:
    label = Label.objects.get(template=template, name=Label.Name.PRODUCTION)
    challenger_model = label.model_version
    if options.challenger_model:
        found = ModelVersion.objects.filter(name=options.challenger_model).first()
        if found is None:
            raise GovernanceError(
                f"No model version {options.challenger_model!r}.",
                field="challenger_model",
            )
        challenger_model = found
    return RetrainingCycle.objects.create(
        template=template,
        trigger=trigger,
        requested_by=acting_user,
        dataset=dataset,
        golden_snapshot=current_snapshot(template),
        champion_prompt=label.prompt_version,
        champion_model=label.model_version,
        challenger_model=challenger_model,
        options=asdict(options),
    )


# Options that change what a cycle decides (not how long it waits or exports).
DECIDING_OPTIONS = (
    "max_per_segment",
    "max_total",
    "min_examples",
    "max_shift",
    "max_contaminated_share",
    "shadow_share",
    "min_shadow_interactions",
    "challenger_model",
)


def _reconsider(cycle: RetrainingCycle, requested: CycleOptions | None) -> bool:
    """A deferred cycle is decided again when the caller names other options
    (say a lower `min_examples`); any other decision on a dataset stands."""
    if requested is None or cycle.status != Status.COMPLETED:
        return False
    if cycle.decision is None or cycle.decision.decision != DEFER:
        return False
    stored = CycleOptions(**cycle.options)
    return any(
        getattr(stored, name) != getattr(requested, name) for name in DECIDING_OPTIONS
    )


def _open_cycle(
    template: PromptTemplate,
    acting_user: User | None,
    trigger: str,
    requested: CycleOptions | None,
    outcome: CycleOutcome,
    on_progress: ProgressCallback | None,
) -> RetrainingCycle:
    """Resume the active cycle, reuse an unchanged dataset's, or collect anew.

    A deferred cycle asked for again with other options gets a new dataset
    snapshot (the same rows in a window ending now) and a new cycle, since a
    dataset snapshot has at most one cycle and a cycle one decision.
    """
    options = requested or CycleOptions()
    active = RetrainingCycle.objects.filter(template=template, status__in=ACTIVE)
    if (cycle := active.first()) is not None:
        outcome.reused.append(f"cycle #{cycle.pk} ({cycle.status}): resumed")
        return cycle
    latest = collect.latest_dataset(template)
    unchanged = (
        latest is not None and collect.approvals_after(template, latest.window_end) == 0
    )
    if unchanged:
        assert latest is not None  # noqa: S101
        outcome.reused.append(
            f"dataset snapshot #{latest.pk} ({latest.content_hash[:12]}): nothing "
            "was approved after its window ended"
        )
        cycle = latest.cycles.first()
        if cycle is not None and _reconsider(cycle, requested):
            outcome.reused.append(
                f"the rows of cycle #{cycle.pk} (deferred under other options; "
                "decided again in a new cycle with these)"
            )
            unchanged = False
        elif cycle is not None:
            if cycle.status == Status.FAILED:
                cycle.status, cycle.error = Status.RUNNING, ""
                cycle.save(update_fields=["status", "error"])
                outcome.reused.append(f"cycle #{cycle.pk} (failed): resumed")
            return cycle
    if not Label.objects.filter(template=template, name="production").exists():
        raise GovernanceError(
            f"Template {template.name!r} has no production label to retrain."
        )
    started = (name := "collect", time.monotonic(), timezone.now())
    if on_progress is not None:
        on_progress(Progress(step=name))
    try:
        with transaction.atomic():
            if unchanged and latest is not None:
                dataset, created = latest, False
            else:
                dataset, created = collect.build_dataset(
                    template=template,
                    window_start=collect.baseline_window_start(template),
                    window_end=timezone.now(),
                    acting_user=acting_user,
                )
            cycle = _create_cycle(template, acting_user, trigger, options, dataset)
    except IntegrityError:
        raise GovernanceError(
            f"Another retraining cycle of {template.name!r} has just started."
        ) from None
    StepRecorder(cycle, None).end(
        started,
        status="ok" if created else "reused",
        numbers={
            "dataset_snapshot": dataset.pk,
            "content_hash": dataset.content_hash,
            **dataset.manifest.get("counts", {}),
            "feedback": dataset.manifest.get("feedback", {}),
            "window": dataset.manifest.get("window", {}),
        },
    )
    return cycle


def _report_output_diversity(cycle: RetrainingCycle) -> dict[str, object]:
    """SQL shapes per segment up to the dataset's window end; a collapse is
    also a trigger event (the same one the periodic check fires, so once)."""
    assert cycle.dataset is not None  # noqa: S101
    end = cycle.dataset.window_end
    report = output_diversity(cycle.template, now=end)
    if report["collapsed"]:
        kind = TriggerEvent.Kind.OUTPUT_DIVERSITY
        fire_trigger(
            template=cycle.template,
            kind=kind,
            dedup_key=f"{DEDUP_PREFIX}{report['current']['end'][:10]}",
            evidence=report,
            now=timezone.now(),
            reason=CHECK_REASONS[kind],
        )
    return report


def _run_steps(
    cycle: RetrainingCycle,
    options: CycleOptions,
    outcome: CycleOutcome,
    recorder: StepRecorder,
    wait: bool,
) -> None:
    if cycle.status == Status.SHADOWING:
        shadow.finish_shadow(cycle, options, outcome, recorder)
        return
    assert cycle.dataset is not None and cycle.champion_prompt is not None  # noqa: S101
    started = recorder.begin("validate")
    validation = validate_dataset(
        dataset=cycle.dataset,
        production=cycle.champion_prompt,
        golden_snapshot=cycle.golden_snapshot,
        thresholds=options.thresholds(),
    )
    diversity = _report_output_diversity(cycle)
    cycle.validation = {
        **validation.report,
        "blocking": validation.blocking,
        "output_diversity": diversity,
    }
    cycle.save(update_fields=["validation"])
    recorder.end(
        started,
        status="blocked" if validation.blocking else "ok",
        numbers={
            "usable": len(validation.usable),
            "invalid": len(validation.report["schema"]["invalid"]),
            "by_segment": validation.report["volume"]["by_segment"],
            "shift_tvd": validation.report["shift"]["tvd"],
            "contamination": validation.report["contamination"].get("approved", {}),
            "diversity_collapsed": diversity["collapsed"],
        },
        detail="; ".join(validation.blocking),
    )
    if (decision := cycle.decision) is not None:
        outcome.reused.append(f"decision #{decision.sequence}")
        complete(cycle)
        return
    facts = build.build(cycle, validation, options, outcome, recorder)
    if facts is None:
        return
    if options.export_training and not cycle.training_export:
        started = recorder.begin("export")
        cycle.training_export = build.export(cycle, validation)
        cycle.save(update_fields=["training_export"])
        recorder.end(started, numbers=cycle.training_export)
    if not evaluate.evaluate(cycle, options, outcome, recorder, wait):
        return
    decide.decide_after_evaluation(cycle, facts, options, outcome, recorder)


def run_cycle(
    *,
    template: PromptTemplate,
    acting_user: User | None,
    trigger: str = RetrainingCycle.Trigger.MANUAL,
    options: CycleOptions | None = None,
    wait: bool = True,
    on_progress: ProgressCallback | None = None,
) -> CycleOutcome:
    """Run (or resume) the template's retraining cycle as far as it can go.

    `acting_user` requests the cycle and any promotion it opens (None: the
    schedule, the system); a person needs `governance.run_retrainingcycle`.
    With `wait=False` the call returns while evaluation runs are on workers
    (`outcome.waiting` says so); calling again resumes.
    Evaluations run in this process without a broker, on workers with one.
    A shadowing cycle opens its promotion request once the challenger has
    served enough sessions. Records each step on the cycle; decisions go to
    the decision log (`governance.decisions.open_decision`), at most one per
    dataset snapshot. A step that raises marks the cycle failed (resumable).
    Deliberately not one transaction: runs take minutes and workers must see
    them, so each step commits its own writes and a resumed cycle reuses them.
    """
    if acting_user is not None and not acting_user.has_perm(
        "governance.run_retrainingcycle"
    ):
        raise NotPermittedError(
            "Running a retraining cycle needs governance.run_retrainingcycle "
            "(the ml_lead role)."
        )
    outcome = CycleOutcome(cycle=None)  # type: ignore[arg-type]
    cycle = _open_cycle(template, acting_user, trigger, options, outcome, on_progress)
    outcome.cycle = cycle
    if cycle.status == Status.COMPLETED:
        describe_reuse(cycle, outcome)
        return outcome
    stored = CycleOptions(**cycle.options)
    recorder = StepRecorder(cycle, on_progress)
    try:
        _run_steps(cycle, stored, outcome, recorder, wait)
    except TimeoutError as exc:
        outcome.waiting = f"evaluation runs on the workers ({exc})"
    except Exception as exc:
        cycle.status, cycle.error = Status.FAILED, str(exc)[:2000]
        cycle.finished_at = timezone.now()
        cycle.save(update_fields=["status", "error", "finished_at"])
        raise
    return outcome


# The schedule looks at a cycle waiting for its runs every minute, for a day.
ADVANCE_EVERY_S = 60
MAX_ADVANCES = 24 * 60


def advance_scheduled_cycle(*, template_id: int) -> bool:
    """Run the template's cycle for the schedule (system actor, no waiting).

    Returns True while it waits for evaluation runs on workers, so the caller
    looks again later. A missing template or a domain error is logged.
    """
    template = PromptTemplate.objects.filter(pk=template_id).first()
    if template is None:
        logger.warning("template %s vanished before its cycle", template_id)
        return False
    try:
        outcome = run_cycle(
            template=template,
            acting_user=None,
            trigger=RetrainingCycle.Trigger.SCHEDULE,
            wait=False,
        )
    except DomainError as exc:
        logger.warning("cycle of template %s stopped: %s", template_id, exc.message)
        return False
    logger.info(
        "cycle #%s of template %s: %s",
        outcome.cycle.pk,
        template_id,
        outcome.waiting or outcome.cycle.status,
    )
    return outcome.waiting.startswith("evaluation")


def templates_to_retrain() -> list[int]:
    """Templates the weekly schedule cycles: those with a production label."""
    return list(
        Label.objects.filter(name=Label.Name.PRODUCTION)
        .order_by("template_id")
        .values_list("template_id", flat=True)
    )


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
