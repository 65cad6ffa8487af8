"""Reads behind a promotion: the current snapshot, champion run, gates, comparison."""

from collections.abc import Mapping
from typing import Any

from evaluation.models import EvaluationRun, GoldenSetSnapshot, RegressionAlert
from evaluation.runs import comparison as evaluation_comparison
from evaluation.runs.comparison import (
    ItemChange,
    segment_regressions,
)
from evaluation.runs.exceptions import ComparisonError
from evaluation.runs.selectors import latest_run_for
from evaluation.selectors import latest_snapshot_for
from governance.models import GovernancePolicy
from registry.models import Label, PromptTemplate

PRIMARY_METRIC = "execution_accuracy"


def policy_for(template: PromptTemplate) -> GovernancePolicy:
    """The template's policy, or an unsaved one holding the defaults."""
    policy = GovernancePolicy.objects.filter(template=template).first()
    return policy or GovernancePolicy(template=template)


def current_snapshot(template: PromptTemplate) -> GoldenSetSnapshot | None:
    """The latest snapshot (by creation) holding examples of the template's database."""
    return latest_snapshot_for(target_database_id=template.target_database_id)


def champion_run(
    *, template: PromptTemplate, label_name: str, snapshot: GoldenSetSnapshot | None
) -> EvaluationRun | None:
    """The latest succeeded run of the pair the label serves now, on `snapshot`."""
    label = Label.objects.filter(template=template, name=label_name).first()
    if label is None or snapshot is None:
        return None
    return latest_run_for(
        prompt_version=label.prompt_version,
        model_version=label.model_version,
        snapshot=snapshot,
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
        threshold = policy.regression_threshold
        worst = [
            f"{segment} {deltas[PRIMARY_METRIC]['delta_points']:+.2f} points"
            for segment, deltas in segment_regressions(
                champ, cand, threshold_points=threshold * 100, metric=PRIMARY_METRIC
            )
            # The overall figure is the primary-metric gate's business.
            if segment != "overall"
        ] + [
            f"{segment} not scored"
            for segment in sorted(
                set(champ.get("segments", {})) - set(cand.get("segments", {}))
            )
        ]
        gates.append(
            _gate(
                "segments",
                not worst,
                f"regressed beyond {threshold:.4f}: {', '.join(worst)}"
                if worst
                else f"no segment drops more than {threshold:.4f}",
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
    fixed: list[dict[str, Any]] = []
    broken: list[dict[str, Any]] = []
    if champion is not None:
        try:
            comparison = evaluation_comparison.compare_runs(
                champion=champion, challenger=candidate
            )
        except ComparisonError:
            comparison = None
        if comparison is not None:
            fixed = [_item(change) for change in comparison.fixed]
            broken = [_item(change) for change in comparison.broken]
    return {"segments": rows, "fixed": fixed, "broken": broken}


def _item(change: ItemChange) -> dict[str, Any]:
    return {"golden_example": change.golden_example_id, "question": change.question}


def alerts_for_run(run: EvaluationRun | None) -> list[Mapping[str, Any]]:
    """Regression alerts stored for `run`, for reviewers."""
    if run is None:
        return []
    return list(
        RegressionAlert.objects.filter(run=run).values(
            "segment", "metric", "champion_value", "challenger_value", "drop_points"
        )
    )
