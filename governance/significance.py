"""One-sided tests of "the candidate is worse" for a rollout's online gates.

Django-free. Counts (negative feedback, execution success) use a pooled
two-proportion z test, or Fisher's exact test when an expected cell count is
below 5; values (outcome metrics, latencies) use the Mann-Whitney U test, which
assumes no distribution. Intervals: Wilson for proportions, Welch for a mean
difference, and the order-statistic (binomial) interval for a p95.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

from evaluation.statistics import Z_95, wilson_interval

# Below this expected count in any cell the normal approximation is not trusted.
MIN_EXPECTED = 5.0


@dataclass(frozen=True)
class Comparison:
    """A one-sided test of candidate vs baseline; `p_value` is for "worse"."""

    test: str
    p_value: float | None


def proportion_worse(
    *, cand_hits: int, cand_n: int, base_hits: int, base_n: int, higher_is_worse: bool
) -> Comparison:
    """Is the candidate's proportion worse than the baseline's?

    `higher_is_worse`: True for a negative-feedback rate, False for a success
    rate. None as p-value when a side has no observations.
    """
    if cand_n == 0 or base_n == 0:
        return Comparison(test="none", p_value=None)
    hits, n = cand_hits + base_hits, cand_n + base_n
    expected = min(
        cand_n * hits / n,
        cand_n * (n - hits) / n,
        base_n * hits / n,
        base_n * (n - hits) / n,
    )
    if expected < MIN_EXPECTED:
        table = [[cand_hits, cand_n - cand_hits], [base_hits, base_n - base_hits]]
        alternative = "greater" if higher_is_worse else "less"
        result = stats.fisher_exact(table, alternative=alternative)
        return Comparison(test="fisher_exact", p_value=float(result.pvalue))
    pooled = hits / n
    se = math.sqrt(pooled * (1 - pooled) * (1 / cand_n + 1 / base_n))
    diff = cand_hits / cand_n - base_hits / base_n
    if se == 0:
        return Comparison(test="two_proportion_z", p_value=1.0)
    z = diff / se if higher_is_worse else -diff / se
    return Comparison(test="two_proportion_z", p_value=float(stats.norm.sf(z)))


def values_worse(
    candidate: Sequence[float], baseline: Sequence[float], *, higher_is_worse: bool
) -> Comparison:
    """Mann-Whitney U: does the candidate tend to larger (or smaller) values?"""
    if not candidate or not baseline:
        return Comparison(test="none", p_value=None)
    if len(set(candidate) | set(baseline)) == 1:
        return Comparison(test="mann_whitney_u", p_value=1.0)
    alternative = "greater" if higher_is_worse else "less"
    result = stats.mannwhitneyu(candidate, baseline, alternative=alternative)
    return Comparison(test="mann_whitney_u", p_value=float(result.pvalue))


def proportion_interval(hits: int, n: int) -> list[float] | None:
    """Wilson 95% interval as a list (JSON), or None without observations."""
    interval = wilson_interval(hits, n)
    return [round(interval[0], 6), round(interval[1], 6)] if interval else None


def mean_difference_interval(
    candidate: Sequence[float], baseline: Sequence[float]
) -> list[float] | None:
    """Welch 95% interval of mean(candidate) - mean(baseline) (normal quantile)."""
    if len(candidate) < 2 or len(baseline) < 2:
        return None
    diff = _mean(candidate) - _mean(baseline)
    se = math.sqrt(
        _variance(candidate) / len(candidate) + _variance(baseline) / len(baseline)
    )
    return [round(diff - Z_95 * se, 6), round(diff + Z_95 * se, 6)]


def quantile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile by the nearest-rank method (an observed value)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return float(ordered[rank - 1])


def quantile_interval(values: Sequence[float], q: float) -> list[float] | None:
    """Distribution-free ~95% interval of the q-quantile from order statistics.

    The ranks come from the binomial(n, q) distribution; None when n is too
    small for the interval to stay inside the sample.
    """
    n = len(values)
    if n == 0:
        return None
    low = int(stats.binom.ppf(0.025, n, q))
    high = int(stats.binom.ppf(0.975, n, q)) + 1
    if low < 1 or high > n:
        return None
    ordered = sorted(values)
    return [float(ordered[low - 1]), float(ordered[high - 1])]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _variance(values: Sequence[float]) -> float:
    mean = _mean(values)
    return sum((v - mean) ** 2 for v in values) / (len(values) - 1)
