"""Reads of evaluation runs, results and alerts, shaped for their callers."""

from dataclasses import dataclass

from django.db.models import QuerySet

from evaluation.models import (
    EvaluationResult,
    EvaluationRun,
    GoldenSetSnapshot,
    RegressionAlert,
)
from evaluation.selectors import latest_snapshot_for
from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion

HEADLINE_METRIC = "execution_accuracy"


def list_runs() -> QuerySet[EvaluationRun]:
    """Runs with their pair, template, snapshot and requester joined."""
    return EvaluationRun.objects.select_related(
        "prompt_version__template",
        "model_version",
        "snapshot",
        "requested_by",
    )


def list_results(*, run: EvaluationRun) -> QuerySet[EvaluationResult]:
    """A run's per-item results with their golden example, in example order."""
    return (
        EvaluationResult.objects.filter(run=run)
        .select_related("golden_example")
        .order_by("golden_example_id")
    )


def list_alerts() -> QuerySet[RegressionAlert]:
    """Regression alerts with both runs and the run's pair joined."""
    return RegressionAlert.objects.select_related(
        "run__prompt_version__template",
        "run__model_version",
        "champion_run",
    )


def latest_run_for(
    *,
    prompt_version: PromptVersion,
    model_version: ModelVersion,
    snapshot: GoldenSetSnapshot,
    mode: str = EvaluationRun.Mode.SPIDER,
) -> EvaluationRun | None:
    """The pair's most recently finished succeeded run on the snapshot, if any."""
    return (
        list_runs()
        .filter(
            prompt_version=prompt_version,
            model_version=model_version,
            snapshot=snapshot,
            mode=mode,
            status=EvaluationRun.Status.SUCCEEDED,
        )
        .order_by("-finished_at", "-pk")
        .first()
    )


def find_champion_run(
    *,
    template: PromptTemplate,
    snapshot: GoldenSetSnapshot,
    mode: str = EvaluationRun.Mode.SPIDER,
) -> EvaluationRun | None:
    """The current champion's run: the latest succeeded run, on `snapshot`, of
    the pair the template's production label points at. None when the template
    has no production label or that pair was never run on the snapshot."""
    label = (
        Label.objects.filter(template=template, name=Label.Name.PRODUCTION)
        .select_related("prompt_version", "model_version")
        .first()
    )
    if label is None:
        return None
    return latest_run_for(
        prompt_version=label.prompt_version,
        model_version=label.model_version,
        snapshot=snapshot,
        mode=mode,
    )


def previous_champion_run(*, run: EvaluationRun) -> EvaluationRun | None:
    """The run to compare a champion's own run with: the latest succeeded run, on
    the same snapshot and mode, of the pair production served before this one.

    Walks the production label's history newest first and takes the first pair
    that differs from `run`'s and was run on the snapshot; None when none was.
    """
    label = Label.objects.filter(
        template=run.prompt_version.template, name=Label.Name.PRODUCTION
    ).first()
    if label is None:
        return None
    pair = (run.prompt_version_id, run.model_version_id)
    seen = {pair}
    for record in label.history.order_by("-history_date", "-history_id"):
        earlier = (record.prompt_version_id, record.model_version_id)
        if earlier in seen:
            continue
        seen.add(earlier)
        found = latest_run_for(
            prompt_version=record.prompt_version,
            model_version=record.model_version,
            snapshot=run.snapshot,
            mode=run.mode,
        )
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class HeadlineAccuracy:
    """A template's production accuracy on its current golden snapshot."""

    template: PromptTemplate
    label: Label
    snapshot: GoldenSetSnapshot | None
    run: EvaluationRun | None

    @property
    def accuracy(self) -> float | None:
        if self.run is None or not self.run.summary:
            return None
        value = self.run.summary.get("overall", {}).get(HEADLINE_METRIC)
        return float(value) if isinstance(value, int | float) else None


def production_accuracy() -> list[HeadlineAccuracy]:
    """Every template with a production label, by name, with the latest succeeded
    run of the pair it serves on the template's current golden snapshot (None
    when that pair was never run on it). Two queries per template."""
    labels = (
        Label.objects.filter(name=Label.Name.PRODUCTION)
        .select_related("template", "prompt_version", "model_version")
        .order_by("template__name")
    )
    found = []
    for label in labels:
        template = label.template
        snapshot = latest_snapshot_for(target_database_id=template.target_database_id)
        run = (
            None
            if snapshot is None
            else latest_run_for(
                prompt_version=label.prompt_version,
                model_version=label.model_version,
                snapshot=snapshot,
            )
        )
        found.append(HeadlineAccuracy(template, label, snapshot, run))
    return found
