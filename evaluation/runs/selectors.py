"""Reads of evaluation runs, results and alerts, shaped for their callers."""

from django.db.models import QuerySet

from evaluation.models import (
    EvaluationResult,
    EvaluationRun,
    GoldenSetSnapshot,
    RegressionAlert,
)
from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion


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
