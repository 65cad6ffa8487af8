"""Small statistics: Wilson intervals and mix stability."""

import pytest

from evaluation.statistics import share_spread, total_variation, wilson_interval


def test_wilson_interval_matches_published_values() -> None:
    # Brown, Cai & DasGupta (2001) and R's prop.test(correct=FALSE): 81/263.
    low, high = wilson_interval(81, 263)  # type: ignore[misc]
    assert low == pytest.approx(0.2553, abs=1e-4)
    assert high == pytest.approx(0.3662, abs=1e-4)


def test_wilson_interval_stays_inside_zero_and_one_at_the_edges() -> None:
    low, high = wilson_interval(0, 10)  # type: ignore[misc]
    assert low == 0.0 and 0.25 < high < 0.35
    low, high = wilson_interval(10, 10)  # type: ignore[misc]
    assert high == 1.0 and 0.65 < low < 0.75
    assert wilson_interval(0, 0) is None


def test_wilson_interval_narrows_with_more_data() -> None:
    small, large = wilson_interval(5, 10), wilson_interval(500, 1000)
    assert small is not None and large is not None
    assert (large[1] - large[0]) < (small[1] - small[0]) / 5


@pytest.mark.parametrize(("successes", "n"), [(-1, 5), (6, 5), (1, -1)])
def test_wilson_interval_refuses_impossible_counts(successes: int, n: int) -> None:
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(successes, n)


def test_total_variation_of_mixes() -> None:
    assert total_variation({"a": 5, "b": 5}, {"a": 1, "b": 1}) == 0.0
    assert total_variation({"a": 1}, {"b": 3}) == 1.0
    assert total_variation({"a": 3, "b": 1}, {"a": 1, "b": 1}) == pytest.approx(0.25)
    assert total_variation({}, {}) == 0.0


def test_share_spread() -> None:
    assert share_spread([0.5, 0.5, 0.5]) == 0.0
    assert share_spread([0.2]) is None
    assert share_spread([0.0, 0.0]) is None
    assert share_spread([0.1, 0.3]) == pytest.approx(0.7071, abs=1e-4)
