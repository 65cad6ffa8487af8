"""The one-sided tests behind a rollout's online gates (no database)."""

import pytest

from governance.significance import (
    mean_difference_interval,
    proportion_worse,
    quantile,
    quantile_interval,
    values_worse,
)


def test_small_counts_use_fishers_exact_test() -> None:
    found = proportion_worse(
        cand_hits=3, cand_n=10, base_hits=0, base_n=10, higher_is_worse=True
    )
    # One-sided hypergeometric tail: C(10,3) / C(20,3) = 120 / 1140.
    assert found.test == "fisher_exact"
    assert found.p_value == pytest.approx(120 / 1140)


def test_large_counts_use_the_pooled_two_proportion_z_test() -> None:
    worse = proportion_worse(
        cand_hits=60, cand_n=200, base_hits=40, base_n=200, higher_is_worse=True
    )
    assert worse.test == "two_proportion_z"
    assert worse.p_value == pytest.approx(0.01046, abs=1e-4)
    # Fewer successes is worse for a success rate: the same evidence.
    fewer = proportion_worse(
        cand_hits=40, cand_n=200, base_hits=60, base_n=200, higher_is_worse=False
    )
    assert fewer.p_value == pytest.approx(worse.p_value)
    better = proportion_worse(
        cand_hits=40, cand_n=200, base_hits=60, base_n=200, higher_is_worse=True
    )
    assert better.p_value is not None and better.p_value > 0.9


def test_no_observations_give_no_p_value() -> None:
    empty = proportion_worse(
        cand_hits=0, cand_n=0, base_hits=3, base_n=10, higher_is_worse=True
    )
    assert empty.p_value is None
    assert values_worse([], [1.0], higher_is_worse=True).p_value is None


def test_mann_whitney_sees_a_shift_and_not_identical_values() -> None:
    slow = values_worse(
        [float(200 + i) for i in range(30)],
        [float(100 + i) for i in range(30)],
        higher_is_worse=True,
    )
    assert slow.test == "mann_whitney_u" and slow.p_value is not None
    assert slow.p_value < 1e-6
    same = values_worse([5.0] * 10, [5.0] * 10, higher_is_worse=True)
    assert same.p_value == 1.0


def test_p95_and_its_order_statistic_interval() -> None:
    values = [float(v) for v in range(1, 101)]
    assert quantile(values, 0.95) == 95.0
    interval = quantile_interval(values, 0.95)
    assert interval is not None and interval[0] < 95.0 < interval[1]
    assert quantile_interval(values[:5], 0.95) is None  # too few to bound it


def test_welch_interval_covers_the_mean_difference() -> None:
    interval = mean_difference_interval([1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 2.0, 3.0])
    assert interval is not None and interval[0] < 1.0 < interval[1]
    assert mean_difference_interval([1.0], [2.0, 3.0]) is None
