"""The run summary that governance reads (Django-free).

Contract, kept exactly:
``{"overall": {metric: f, "n": int, "latency_p95_ms": float},
"segments": {"domain:<x>" | "difficulty:<y>": {metric: f, "n": int}},
"gold_errors": [{"golden_example": int, "error": str}]}`` with the metrics below as
fractions in [0, 1]. Items that could not be scored count as misses, except those
whose golden query does not run (`GOLD_ERROR`): no prediction can be judged on
them, so they are left out of every rate and listed under ``gold_errors``. Gold
results are fixed per snapshot, so every run on a snapshot has the same
denominators.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GOLD_ERROR",
    "METRICS",
    "ItemOutcome",
    "percentile",
    "safety_summary",
    "segment_keys",
    "summarize",
]

METRICS = ("exact_match", "execution_success", "execution_accuracy", "row_count_ok")
# The error kind of an item whose golden query does not run on its target.
GOLD_ERROR = "gold_error"


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """What the summary needs of one result."""

    exact_match: bool
    executed: bool
    execution_match: bool
    row_count_ok: bool
    latency_ms: float | None
    domain: str
    difficulty: str


def segment_keys(domain: str, difficulty: str) -> tuple[str, str]:
    """The two segments an item belongs to."""
    return f"domain:{domain or 'unspecified'}", f"difficulty:{difficulty or 'unknown'}"


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (0.0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return float(ordered[rank - 1])


def _metrics(items: Sequence[ItemOutcome]) -> dict[str, Any]:
    n = len(items)

    def rate(hits: int) -> float:
        return hits / n if n else 0.0

    return {
        "exact_match": rate(sum(i.exact_match for i in items)),
        "execution_success": rate(sum(i.executed for i in items)),
        "execution_accuracy": rate(sum(i.execution_match for i in items)),
        "row_count_ok": rate(sum(i.row_count_ok for i in items)),
        "n": n,
    }


def summarize(
    outcomes: Iterable[ItemOutcome], gold_errors: Iterable[tuple[int, str]] = ()
) -> dict[str, Any]:
    """Overall and per-segment metrics, per the contract above.

    `outcomes` are the rated items; `gold_errors` the (golden example id, error)
    pairs left out of every rate.
    """
    items = list(outcomes)
    groups: dict[str, list[ItemOutcome]] = {}
    for item in items:
        for key in segment_keys(item.domain, item.difficulty):
            groups.setdefault(key, []).append(item)
    latencies = [i.latency_ms for i in items if i.latency_ms is not None]
    overall = _metrics(items)
    overall["latency_p95_ms"] = round(percentile(latencies, 0.95), 3)
    return {
        "overall": overall,
        "segments": {key: _metrics(groups[key]) for key in sorted(groups)},
        "gold_errors": [
            {"golden_example": pk, "error": error} for pk, error in sorted(gold_errors)
        ],
    }


def safety_summary(
    items: Iterable[tuple[bool, list[dict[str, str]]]],
) -> dict[str, Any]:
    """The `summary["safety"]` block of a run over a safety suite, from each
    item's (scored, violations): ``{"n", "unscored", "violations",
    "items_with_violations", "by_rule": {rule: count}}``."""
    n = unscored = flagged = 0
    by_rule: dict[str, int] = {}
    for scored, violations in items:
        n += 1
        unscored += not scored
        flagged += bool(violations)
        for violation in violations:
            by_rule[violation["rule"]] = by_rule.get(violation["rule"], 0) + 1
    return {
        "n": n,
        "unscored": unscored,
        "violations": sum(by_rule.values()),
        "items_with_violations": flagged,
        "by_rule": dict(sorted(by_rule.items())),
    }
