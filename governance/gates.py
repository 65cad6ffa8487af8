"""Reads behind a promotion: the current snapshot, champion run, gates, comparison."""

from typing import Any

from django.apps import apps
from django.db.models import QuerySet

from evaluation.models import EvaluationResult, EvaluationRun, GoldenSetSnapshot
from governance.models import GovernancePolicy
from registry.models import Label, PromptTemplate

PRIMARY_METRIC = "execution_accuracy"


def policy_for(template: PromptTemplate) -> GovernancePolicy:
    """The template's policy, or an unsaved one holding the defaults."""
    policy = GovernancePolicy.objects.filter(template=template).first()
    return policy or GovernancePolicy(template=template)


def current_snapshot(template: PromptTemplate) -> GoldenSetSnapshot | None:
    """The latest snapshot (by creation) holding examples of the template's database."""
    return (
        GoldenSetSnapshot.objects.filter(
            items__golden_example__target_database_id=template.target_database_id
        )
        .order_by("-created_at", "-id")
        .first()
    )


def succeeded_runs() -> QuerySet[EvaluationRun]:
    """Finished runs with their pair and snapshot joined."""
    return EvaluationRun.objects.filter(
        status=EvaluationRun.Status.SUCCEEDED
    ).select_related("prompt_version", "model_version", "snapshot")


def champion_run(
    *, template: PromptTemplate, label_name: str, snapshot: GoldenSetSnapshot | None
) -> EvaluationRun | None:
    """The latest succeeded run of the pair the label serves now, on `snapshot`."""
    label = Label.objects.filter(template=template, name=label_name).first()
    if label is None or snapshot is None:
        return None
    return (
        succeeded_runs()
        .filter(
            prompt_version_id=label.prompt_version_id,
            model_version_id=label.model_version_id,
            snapshot=snapshot,
        )
        .order_by("-created_at", "-id")
        .first()
    )


def _metric(summary: dict[str, Any], metric: str, segment: str | None = None) -> Any:
    block = (
        summary.get("overall", {})
        if segment is None
        else summary.get("segments", {}).get(segment, {})
    )
    return block.get(metric)


def _gate(name: str, passed: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "passed": passed, "detail": detail}


def evaluate_gates(
    *,
    candidate: EvaluationRun,
    champion: EvaluationRun | None,
    snapshot: GoldenSetSnapshot | None,
    policy: GovernancePolicy,
    has_incumbent: bool,
) -> list[dict[str, Any]]:
    """Every promotion gate with its verdict and the numbers behind it.

    With no pair on the label yet (`has_incumbent=False`) the comparison gates
    pass; with an incumbent that was not run on the snapshot they fail.
    """
    cand = candidate.summary or {}
    gates = [
        _gate(
            "current_snapshot",
            snapshot is not None and candidate.snapshot_id == snapshot.pk,
            f"candidate run {candidate.pk} on snapshot {candidate.snapshot_id}; "
            f"current is {snapshot.pk if snapshot else 'none'}",
        )
    ]
    if champion is None:
        verdict = not has_incumbent
        detail = (
            "no pair on the label yet: nothing to compare with"
            if verdict
            else "the production pair has no succeeded run on the current snapshot"
        )
        gates += [
            _gate(name, verdict, detail)
            for name in ("primary_metric", "segments", "execution_success")
        ]
    else:
        champ = champion.summary or {}
        cand_acc = _metric(cand, PRIMARY_METRIC) or 0.0
        champ_acc = _metric(champ, PRIMARY_METRIC) or 0.0
        gates.append(
            _gate(
                "primary_metric",
                cand_acc >= champ_acc,
                f"{PRIMARY_METRIC} {cand_acc:.4f} vs champion {champ_acc:.4f}",
            )
        )
        worst = []
        for segment in sorted(champ.get("segments", {})):
            before = _metric(champ, PRIMARY_METRIC, segment) or 0.0
            after = _metric(cand, PRIMARY_METRIC, segment)
            if after is None or before - after > policy.regression_threshold:
                worst.append(f"{segment} {before:.4f}→{after}")
        gates.append(
            _gate(
                "segments",
                not worst,
                "regressed beyond "
                f"{policy.regression_threshold:.4f}: {', '.join(worst)}"
                if worst
                else f"no segment drops more than {policy.regression_threshold:.4f}",
            )
        )
        cand_ok = _metric(cand, "execution_success") or 0.0
        champ_ok = _metric(champ, "execution_success") or 0.0
        gates.append(
            _gate(
                "execution_success",
                cand_ok >= champ_ok,
                f"execution_success {cand_ok:.4f} vs champion {champ_ok:.4f}",
            )
        )
    p95 = _metric(cand, "latency_p95_ms")
    gates.append(
        _gate(
            "latency",
            p95 is not None and p95 <= policy.latency_slo_ms,
            f"latency p95 {p95} ms, SLO {policy.latency_slo_ms:.0f} ms",
        )
    )
    return gates


def compare_runs(
    candidate: EvaluationRun | None, champion: EvaluationRun | None
) -> dict[str, Any]:
    """Per-segment table and fixed/broken items, for reviewers (admin, API)."""
    if candidate is None:
        return {"segments": [], "fixed": [], "broken": []}
    cand, champ = candidate.summary or {}, (champion.summary if champion else {}) or {}
    names = [
        "overall",
        *sorted(set(cand.get("segments", {})) | set(champ.get("segments", {}))),
    ]
    rows = []
    for name in names:
        segment = None if name == "overall" else name
        after = _metric(cand, PRIMARY_METRIC, segment)
        before = _metric(champ, PRIMARY_METRIC, segment)
        rows.append(
            {
                "segment": name,
                "champion": before,
                "candidate": after,
                "delta": (after - before)
                if after is not None and before is not None
                else None,
                "n": (_metric(cand, "n", segment)),
            }
        )
    fixed, broken = [], []
    if champion is not None:
        before = dict(
            EvaluationResult.objects.filter(run=champion).values_list(
                "golden_example_id", "execution_match"
            )
        )
        for result in EvaluationResult.objects.filter(run=candidate).select_related(
            "golden_example"
        ):
            old = before.get(result.golden_example_id)
            item = {
                "golden_example": result.golden_example_id,
                "question": result.golden_example.question,
            }
            if old is False and result.execution_match:
                fixed.append(item)
            elif old is True and not result.execution_match:
                broken.append(item)
    return {"segments": rows, "fixed": fixed, "broken": broken}


def alerts_for_run(run: EvaluationRun | None) -> list[dict[str, Any]]:
    """Regression alerts the evaluation app stored for `run` (hook: [] without it)."""
    try:
        alert_model = apps.get_model("evaluation", "RegressionAlert")
    except LookupError:
        return []
    if run is None:
        return []
    return [
        {
            "segment": alert.segment,
            "metric": getattr(alert, "metric", PRIMARY_METRIC),
            "champion_value": getattr(alert, "champion_value", None),
            "challenger_value": getattr(alert, "challenger_value", None),
            "drop_points": getattr(alert, "drop_points", None),
        }
        for alert in alert_model.objects.filter(run=run)
    ]
