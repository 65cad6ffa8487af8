"""Champion vs challenger on one snapshot: deltas, changed items, significance.

The paired test is McNemar's on execution accuracy: only items on which the two
runs disagree carry information. The exact two-sided binomial p-value is reported
with the mid-p value, which is less conservative for small counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from evaluation.exact_match import normalize_sql
from evaluation.models import EvaluationResult, EvaluationRun, GoldResultCache
from evaluation.runs.exceptions import ComparisonError
from evaluation.runs.summaries import GOLD_ERROR, METRICS
from evaluation.scoring import SQLGLOT_VERSION
from evaluation.statistics import wilson_interval
from evaluation.suite import comparison_mode

__all__ = [
    "Comparison",
    "ItemChange",
    "McNemar",
    "check_comparable",
    "compare_runs",
    "mcnemar",
    "metric_deltas",
    "segment_regressions",
]


@dataclass(frozen=True, slots=True)
class McNemar:
    """Discordant pairs and the exact and mid-p two-sided p-values."""

    fixed: int
    broken: int
    p_value: float
    mid_p_value: float


def mcnemar(*, fixed: int, broken: int) -> McNemar:
    """McNemar's exact test from the two discordant counts (Django-free)."""
    n = fixed + broken
    if n == 0:
        return McNemar(fixed, broken, 1.0, 1.0)
    k = min(fixed, broken)
    # C(n, i) built up term by term: exact, and linear in k rather than the
    # quadratic cost of one math.comb per term (thousands of discordant pairs
    # on a large snapshot).
    term, total = 1, 1
    for i in range(k):
        term = term * (n - i) // (i + 1)
        total += term
    tail = Fraction(total, 2**n)
    point = Fraction(term, 2**n)
    exact = min(Fraction(1), 2 * tail)
    mid = min(Fraction(1), 2 * tail - point)
    return McNemar(fixed, broken, float(exact), float(mid))


def rate_interval(summary: Mapping[str, Any], metric: str) -> list[float] | None:
    """The Wilson 95% interval of a summary's rate (hits / n), or None for n 0."""
    n = int(summary.get("n", 0))
    interval = wilson_interval(round(summary.get(metric, 0.0) * n), n)
    return [round(bound, 6) for bound in interval] if interval else None


def metric_deltas(
    champion: Mapping[str, Any], challenger: Mapping[str, Any]
) -> dict[str, Any]:
    """Per metric: both values, their Wilson 95% intervals (rates over each
    side's n items; None for none) and the challenger-minus-champion delta in
    points."""
    deltas: dict[str, Any] = {
        metric: {
            "champion": champion.get(metric, 0.0),
            "challenger": challenger.get(metric, 0.0),
            "delta_points": round(
                (challenger.get(metric, 0.0) - champion.get(metric, 0.0)) * 100, 6
            ),
            "wilson_95": {
                "champion": rate_interval(champion, metric),
                "challenger": rate_interval(challenger, metric),
            },
        }
        for metric in METRICS
    }
    deltas["n"] = {
        "champion": champion.get("n", 0),
        "challenger": challenger.get("n", 0),
    }
    return deltas


def segment_regressions(
    champion_summary: Mapping[str, Any],
    challenger_summary: Mapping[str, Any],
    *,
    threshold_points: float,
    metric: str = "execution_accuracy",
) -> list[tuple[str, dict[str, Any]]]:
    """Segments ("overall" included) where `metric` dropped by more than the
    threshold, as (segment, deltas) pairs. Drops are rounded to 1e-6 points so
    that float noise never turns a drop equal to the threshold into an alert."""
    pairs = [
        (
            "overall",
            champion_summary.get("overall", {}),
            challenger_summary.get("overall", {}),
        )
    ]
    champion_segments = champion_summary.get("segments", {})
    challenger_segments = challenger_summary.get("segments", {})
    pairs += [
        (key, champion_segments[key], challenger_segments[key])
        for key in sorted(set(champion_segments) & set(challenger_segments))
    ]
    found = []
    for key, old, new in pairs:
        deltas = metric_deltas(old, new)
        if -deltas[metric]["delta_points"] > threshold_points:
            found.append((key, deltas))
    return found


@dataclass(frozen=True, slots=True)
class ItemChange:
    """One golden item whose execution verdict differs between the runs."""

    golden_example_id: int
    question: str
    domain: str
    difficulty: str
    champion_sql: str
    challenger_sql: str


@dataclass(frozen=True)
class Comparison:
    """Everything a reviewer reads about champion vs challenger."""

    champion: EvaluationRun
    challenger: EvaluationRun
    overall: dict[str, Any]
    segments: dict[str, dict[str, Any]]
    fixed: list[ItemChange]
    broken: list[ItemChange]
    test: McNemar
    seen_split: dict[str, dict[str, dict[str, float | int]]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the API's and the Markdown report's source)."""
        return {
            "champion": self.champion.pk,
            "challenger": self.challenger.pk,
            "snapshot": self.champion.snapshot_id,
            "mode": self.champion.mode,
            "overall": self.overall,
            "segments": self.segments,
            "fixed": [asdict(item) for item in self.fixed],
            "broken": [asdict(item) for item in self.broken],
            "mcnemar": asdict(self.test),
            "seen_split": self.seen_split,
        }


def check_comparable(champion: EvaluationRun, challenger: EvaluationRun) -> None:
    """ComparisonError (400) naming the run when the pair cannot be compared."""
    if champion.pk == challenger.pk:
        raise ComparisonError(
            f"Run {champion.pk} cannot be compared with itself: pick another run "
            "on the same snapshot.",
            field="challenger",
        )
    if champion.snapshot_id != challenger.snapshot_id:
        raise ComparisonError(
            f"Run {champion.pk} was scored on snapshot {champion.snapshot_id} and run "
            f"{challenger.pk} on snapshot {challenger.snapshot_id}; only runs on the "
            "same snapshot are comparable.",
            field="challenger",
        )
    if champion.mode != challenger.mode:
        raise ComparisonError(
            f"Runs use different scoring modes ({champion.mode} vs {challenger.mode}).",
            field="challenger",
        )
    for field, run in (("champion", champion), ("challenger", challenger)):
        if run.status != EvaluationRun.Status.SUCCEEDED:
            raise ComparisonError(
                f"Run {run.pk} is {run.status}; only succeeded runs are compared.",
                field=field,
            )


def _verdicts(run: EvaluationRun) -> dict[int, EvaluationResult]:
    # Items whose golden query does not run are left out, as in the summary.
    results = (
        EvaluationResult.objects.filter(run=run)
        .exclude(error_kind=GOLD_ERROR)
        .select_related("golden_example")
    )
    return {r.golden_example_id: r for r in results}


def _seen_ids(run: EvaluationRun, results: Mapping[int, EvaluationResult]) -> set[int]:
    """Golden items whose SQL (normalized) is one of the prompt's few-shot SQLs."""
    target = run.prompt_version.template.target_database
    schema = {t: dict.fromkeys(cols, "unknown") for t, cols in target.schema.items()}
    shots = {
        normalize_sql(e["sql"], dialect=target.dialect, schema=schema) or e["sql"]
        for e in run.prompt_version.few_shot_examples
    }
    gold = dict(
        GoldResultCache.objects.filter(
            snapshot_id=run.snapshot_id,
            mode=comparison_mode(run.mode),
            sqlglot_version=SQLGLOT_VERSION,
            golden_example_id__in=list(results),
        ).values_list("golden_example_id", "normalized_sql")
    )
    return {
        pk
        for pk, result in results.items()
        if (gold.get(pk) or result.golden_example.sql) in shots
    }


def _split(results: Mapping[int, EvaluationResult], seen: set[int]) -> dict[str, Any]:
    def part(ids: list[int]) -> dict[str, float | int]:
        hits = sum(results[i].execution_match for i in ids)
        return {"n": len(ids), "execution_accuracy": hits / len(ids) if ids else 0.0}

    return {
        "seen": part([i for i in results if i in seen]),
        "unseen": part([i for i in results if i not in seen]),
    }


def _change(pk: int, old: EvaluationResult, new: EvaluationResult) -> ItemChange:
    example = new.golden_example
    return ItemChange(
        pk,
        example.question,
        example.domain,
        example.difficulty,
        old.predicted_sql,
        new.predicted_sql,
    )


def compare_runs(*, champion: EvaluationRun, challenger: EvaluationRun) -> Comparison:
    """Compare two succeeded runs on the same snapshot and mode (read-only).

    Raises ComparisonError (400) naming the offending run otherwise.
    """
    check_comparable(champion, challenger)
    old, new = _verdicts(champion), _verdicts(challenger)
    shared = sorted(set(old) & set(new))
    fixed = [
        _change(pk, old[pk], new[pk])
        for pk in shared
        if new[pk].execution_match and not old[pk].execution_match
    ]
    broken = [
        _change(pk, old[pk], new[pk])
        for pk in shared
        if old[pk].execution_match and not new[pk].execution_match
    ]
    segments = sorted(
        set(champion.summary.get("segments", {}))
        | set(challenger.summary.get("segments", {}))
    )
    return Comparison(
        champion=champion,
        challenger=challenger,
        overall=metric_deltas(
            champion.summary.get("overall", {}), challenger.summary.get("overall", {})
        ),
        segments={
            key: metric_deltas(
                champion.summary.get("segments", {}).get(key, {}),
                challenger.summary.get("segments", {}).get(key, {}),
            )
            for key in segments
        },
        fixed=fixed,
        broken=broken,
        test=mcnemar(fixed=len(fixed), broken=len(broken)),
        seen_split={
            "champion": _split(old, _seen_ids(champion, old)),
            "challenger": _split(new, _seen_ids(challenger, new)),
        },
    )
