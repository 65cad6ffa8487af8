"""Small statistics for reports: Wilson intervals and the stability of a mix.

Django-free. Model cards (per-segment accuracy) and release safety use the
interval; the error-taxonomy trend uses the stability measures; the input-drift
trigger uses the population stability index.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = [
    "PSI_FLOOR",
    "PSI_SIGNIFICANT",
    "Z_95",
    "psi_contributions",
    "share_spread",
    "total_variation",
    "two_proportion_test",
    "wilson_interval",
]

# Two-sided 95%: the 0.975 quantile of the standard normal distribution.
Z_95 = 1.959963984540054
# The usual reading of a population stability index: below 0.1 stable, 0.1 to
# 0.2 a moderate shift, above 0.2 a significant one (Siddiqi 2006).
PSI_SIGNIFICANT = 0.2
# A category absent from one side gets this share instead of 0, which would make
# the logarithm infinite; the term then stays large but finite.
PSI_FLOOR = 1e-4


def wilson_interval(
    successes: int, n: int, *, z: float = Z_95
) -> tuple[float, float] | None:
    """Wilson score interval of a proportion, or None when n is 0.

    Unlike the normal approximation it stays inside [0, 1] and is honest at
    0/n and n/n (Wilson 1927; Brown, Cai & DasGupta 2001).
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return None
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # At 0/n and n/n the bound is exactly 0 or 1; rounding must not move it.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def two_proportion_test(
    successes_a: int, n_a: int, successes_b: int, n_b: int
) -> tuple[float, float] | None:
    """Pooled two-proportion z-test: (z of b minus a, two-sided p-value).

    None when either side is empty or the pooled rate is 0 or 1 (no variance:
    both proportions are equal and nothing can be tested).
    """
    for successes, n in ((successes_a, n_a), (successes_b, n_b)):
        if n < 0 or not 0 <= successes <= n:
            raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if not n_a or not n_b:
        return None
    pooled = (successes_a + successes_b) / (n_a + n_b)
    if pooled in (0.0, 1.0):
        return None
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = (successes_b / n_b - successes_a / n_a) / spread
    return z, math.erfc(abs(z) / math.sqrt(2))


def total_variation(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Total variation distance between two mixes given as counts or shares."""
    total_a, total_b = sum(a.values()), sum(b.values())
    if total_a <= 0 or total_b <= 0:
        return 0.0 if total_a == total_b else 1.0
    keys = set(a) | set(b)
    return 0.5 * sum(abs(a.get(k, 0) / total_a - b.get(k, 0) / total_b) for k in keys)


def share_spread(shares: Sequence[float]) -> float | None:
    """Coefficient of variation of a share over periods (None: fewer than two,
    or a share that is zero throughout)."""
    if len(shares) < 2:
        return None
    mean = sum(shares) / len(shares)
    if mean == 0:
        return None
    variance = sum((s - mean) ** 2 for s in shares) / (len(shares) - 1)
    return math.sqrt(variance) / mean


def psi_contributions(
    baseline: Mapping[str, float], current: Mapping[str, float]
) -> dict[str, float]:
    """Each category's term of the population stability index of two mixes.

    A term is (current share - baseline share) * ln(current / baseline share),
    never negative; their sum is the index. Mixes are counts or shares; an empty
    side gives no terms (nothing to compare).
    """
    total_b, total_c = sum(baseline.values()), sum(current.values())
    if total_b <= 0 or total_c <= 0:
        return {}
    terms = {}
    for key in sorted(set(baseline) | set(current)):
        b = max(baseline.get(key, 0) / total_b, PSI_FLOOR)
        c = max(current.get(key, 0) / total_c, PSI_FLOOR)
        terms[key] = (c - b) * math.log(c / b)
    return terms
