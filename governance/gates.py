"""Reads behind a promotion: the current snapshot, champion run, gates, comparison.

Every rate in the gates carries its Wilson 95% interval. A segment that drops by
more than the policy's threshold blocks when the drop is significant (McNemar's
exact test on the segment's discordant items) or the segment holds at least
`min_segment_n` items; a drop on a smaller segment is "underpowered": the gate
passes, and an approver must acknowledge it explicitly.
"""

from typing import Any

from evaluation.models import (
    EvaluationResult,
    EvaluationRun,
    GoldenSetSnapshot,
    RegressionAlert,
)
from evaluation.runs import comparison as evaluation_comparison
from evaluation.runs import summaries
from evaluation.runs.comparison import (
    ItemChange,
    mcnemar,
    segment_regressions,
)
from evaluation.runs.exceptions import ComparisonError
from evaluation.runs.selectors import latest_run_for
from evaluation.selectors import latest_snapshot_for
from governance.models import GovernancePolicy
from governance.numbers import accuracy, points, rate_with_interval
from registry.models import Label, PromptTemplate

PRIMARY_METRIC = "execution_accuracy"
# Two-sided level of the exact test that makes a segment drop significant.
SIGNIFICANCE_LEVEL = 0.05
BLOCK, UNDERPOWERED = "block", "underpowered"

Discordant = dict[str, tuple[int, int]]


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


def _gate(name: str, passed: bool, detail: str, **evidence: Any) -> dict[str, Any]:
    return {"name": name, "passed": passed, "detail": detail, **evidence}


def _rate(summary: dict[str, Any], metric: str, segment: str | None = None) -> Any:
    """`metric` of a summary block with the block's n and Wilson interval."""
    return accuracy(
        _metric(summary, metric, segment) or 0.0, _metric(summary, "n", segment)
    )


def discordant_by_segment(
    champion: EvaluationRun, candidate: EvaluationRun
) -> Discordant | None:
    """(fixed, broken) item counts per segment and "overall", from the per-item
    verdicts of both runs; None when either run has no stored verdicts (then no
    drop can be shown to be insignificant)."""
    verdicts = {}
    for run in (champion, candidate):
        verdicts[run.pk] = {
            pk: (match, domain, difficulty)
            for pk, match, domain, difficulty in EvaluationResult.objects.filter(
                run=run
            ).values_list(
                "golden_example_id",
                "execution_match",
                "golden_example__domain",
                "golden_example__difficulty",
            )
        }
    old, new = verdicts[champion.pk], verdicts[candidate.pk]
    if not old or not new:
        return None
    counts: dict[str, list[int]] = {}
    for pk in set(old) & set(new):
        (before, *_), (after, domain, difficulty) = old[pk], new[pk]
        if before == after:
            continue
        for key in ("overall", *summaries.segment_keys(domain, difficulty)):
            counts.setdefault(key, [0, 0])[0 if after else 1] += 1
    return {key: (fixed, broken) for key, (fixed, broken) in counts.items()}


def assess_drop(
    *, n: int, discordant: tuple[int, int] | None, min_segment_n: int
) -> dict[str, Any]:
    """Verdict on a drop beyond the threshold: "block" when the exact test on the
    discordant items is significant, when they are unknown, or when the segment
    holds at least `min_segment_n` items; "underpowered" otherwise."""
    if discordant is None:
        return {"fixed": None, "broken": None, "p_value": None, "verdict": BLOCK}
    test = mcnemar(fixed=discordant[0], broken=discordant[1])
    significant = test.p_value < SIGNIFICANCE_LEVEL
    return {
        "fixed": test.fixed,
        "broken": test.broken,
        "p_value": test.p_value,
        "verdict": BLOCK if significant or n >= min_segment_n else UNDERPOWERED,
    }


def _drop_detail(row: dict[str, Any], min_segment_n: int) -> str:
    numbers = (
        f"{row['segment']} {rate_with_interval(row['champion'])} → "
        f"{rate_with_interval(row['candidate'])}, {points(row['delta'])}"
    )
    if row["p_value"] is None:
        return f"{numbers}, no per-item verdicts to test: {row['verdict']}"
    why = (
        "significant"
        if row["p_value"] < SIGNIFICANCE_LEVEL
        else f"n >= {min_segment_n}"
        if row["verdict"] == BLOCK
        else f"not significant and n < {min_segment_n}"
    )
    return (
        f"{numbers}, {row['fixed']} fixed / {row['broken']} broken, exact "
        f"p={row['p_value']:.3f}: {row['verdict']} ({why})"
    )


def segment_drops(
    champ: dict[str, Any],
    cand: dict[str, Any],
    *,
    policy: GovernancePolicy,
    discordant: Discordant | None,
) -> list[dict[str, Any]]:
    """Every segment whose accuracy dropped beyond the policy's threshold, with
    both rates, the delta, the exact test and the verdict (see `assess_drop`)."""
    rows = []
    for segment, deltas in segment_regressions(
        champ,
        cand,
        threshold_points=policy.regression_threshold * 100,
        metric=PRIMARY_METRIC,
    ):
        # The overall figure is the primary-metric gate's business.
        if segment == "overall":
            continue
        before, after = (
            _rate(champ, PRIMARY_METRIC, segment),
            _rate(cand, PRIMARY_METRIC, segment),
        )
        row = {
            "segment": segment,
            "champion": before,
            "candidate": after,
            "delta": deltas[PRIMARY_METRIC]["delta_points"] / 100,
            **assess_drop(
                n=after["n"],
                discordant=None if discordant is None else discordant.get(segment),
                min_segment_n=policy.min_segment_n,
            ),
        }
        row["detail"] = _drop_detail(row, policy.min_segment_n)
        rows.append(row)
    return rows


def _segments_gate(
    champ: dict[str, Any],
    cand: dict[str, Any],
    policy: GovernancePolicy,
    discordant: Discordant | None,
) -> dict[str, Any]:
    drops = segment_drops(champ, cand, policy=policy, discordant=discordant)
    missing = sorted(set(champ.get("segments", {})) - set(cand.get("segments", {})))
    blocking = [d["detail"] for d in drops if d["verdict"] == BLOCK]
    blocking += [f"{segment} not scored" for segment in missing]
    underpowered = [d["segment"] for d in drops if d["verdict"] == UNDERPOWERED]
    threshold = f"{policy.regression_threshold * 100:.1f} points"
    parts = [f"blocked beyond {threshold}: {'; '.join(blocking)}"] if blocking else []
    parts += [
        f"underpowered (acknowledge at approval): {d['detail']}"
        for d in drops
        if d["verdict"] == UNDERPOWERED
    ]
    return _gate(
        "segments",
        not blocking,
        "; ".join(parts) or f"no segment drops more than {threshold}",
        drops=drops,
        underpowered=underpowered,
        min_segment_n=policy.min_segment_n,
    )


def _rate_gate(
    name: str,
    metric: str,
    champ: dict[str, Any],
    cand: dict[str, Any],
    discordant: Discordant | None = None,
) -> dict[str, Any]:
    after, before = _rate(cand, metric), _rate(champ, metric)
    evidence: dict[str, Any] = {"candidate": after, "champion": before}
    detail = (
        f"{metric} {rate_with_interval(after)} vs champion "
        f"{rate_with_interval(before)}, {points(after['value'] - before['value'])}"
    )
    if discordant is not None:
        fixed, broken = discordant.get("overall", (0, 0))
        test = mcnemar(fixed=fixed, broken=broken)
        evidence.update(fixed=fixed, broken=broken, p_value=test.p_value)
        detail += f"; {fixed} fixed / {broken} broken, exact p={test.p_value:.3f}"
    return _gate(name, after["value"] >= before["value"], detail, **evidence)


def underpowered_segments(gates: list[dict[str, Any]]) -> list[str]:
    """Segments whose drop the stored gates marked underpowered (an approver
    acknowledges them explicitly); empty for gates stored before the mark."""
    return [
        segment
        for gate in gates
        if gate.get("name") == "segments"
        for segment in gate.get("underpowered", [])
    ]


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
        discordant = discordant_by_segment(champion, candidate)
        gates += [
            _rate_gate("primary_metric", PRIMARY_METRIC, champ, cand, discordant),
            _segments_gate(champ, cand, policy, discordant),
            _rate_gate("execution_success", "execution_success", champ, cand),
        ]
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
        n, champion_n = _metric(cand, "n", segment), _metric(champ, "n", segment)
        rows.append(
            {
                "segment": name,
                "champion": before,
                "candidate": after,
                "delta": (after - before)
                if after is not None and before is not None
                else None,
                "n": n,
                "champion_n": champion_n,
                "champion_interval": accuracy(before, champion_n)["interval"],
                "candidate_interval": accuracy(after, n)["interval"],
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


def alerts_for_run(run: EvaluationRun | None) -> list[dict[str, Any]]:
    """Regression alerts stored for `run`, for reviewers, with the Wilson 95%
    intervals of both values."""
    if run is None:
        return []
    return [
        {
            **alert,
            "champion_interval": accuracy(alert["champion_value"], alert["champion_n"])[
                "interval"
            ],
            "challenger_interval": accuracy(
                alert["challenger_value"], alert["challenger_n"]
            )["interval"],
        }
        for alert in RegressionAlert.objects.filter(run=run).values(
            "segment",
            "metric",
            "champion_value",
            "challenger_value",
            "drop_points",
            "champion_n",
            "challenger_n",
        )
    ]
