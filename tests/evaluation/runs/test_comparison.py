"""Champion vs challenger, checked against numbers computed by hand.

Fixture: six golden items (easy: 0, 4, 5; medium: 1, 2, 3). The champion answers
items 0-3 right, the challenger items 0 and 2-5. By hand: EX 4/6 vs 5/6; easy
1/3 vs 3/3; medium 3/3 vs 2/3; fixed {4, 5}, broken {1}; McNemar with 2 and 1
discordant pairs: P(X <= 1 | n=3) = 4/8, p = 1.0, mid-p = 1.0 - 3/8 = 0.625.
"""

import pytest
from django.contrib.auth.models import User

from evaluation.models import (
    EvaluationRun,
    GoldenExample,
)
from evaluation.runs.comparison import (
    compare_runs,
    mcnemar,
    segment_regressions,
)
from evaluation.runs.exceptions import ComparisonError
from evaluation.runs.reports import comparison_markdown
from evaluation.runs.services import start_run
from registry.models import ModelVersion, PromptTemplate
from targets.models import TargetDatabase
from tests.evaluation.runs.run_fixtures import (
    ITEMS,
    add_goldens,
    finished_run,
    prompt_with,
    snapshot_of,
)


@pytest.fixture
def goldens(target_db: TargetDatabase) -> list[GoldenExample]:
    return add_goldens(target_db)


@pytest.fixture
def pair(
    goldens: list[GoldenExample],
    template: PromptTemplate,
    ml_lead: User,
    model_v1: ModelVersion,
) -> tuple[EvaluationRun, EvaluationRun]:
    snapshot = snapshot_of(goldens)
    champion = prompt_with(template, ml_lead, correct=[0, 1, 2, 3])
    challenger = prompt_with(template, ml_lead, correct=[0, 2, 3, 4, 5])
    return (
        finished_run(champion, model_v1, snapshot),
        finished_run(challenger, model_v1, snapshot),
    )


@pytest.mark.parametrize(
    ("fixed", "broken", "p_value", "mid_p"),
    [
        (2, 1, 1.0, 0.625),
        (5, 1, 14 / 64, 8 / 64),
        (1, 5, 14 / 64, 8 / 64),
        (10, 0, 2 / 1024, 1 / 1024),
        (0, 0, 1.0, 1.0),
        (3, 3, 1.0, 1.0),  # 2 * 42/64 - 20/64 = 1
    ],
)
def test_mcnemar_exact_and_mid_p_match_hand_computation(
    fixed: int, broken: int, p_value: float, mid_p: float
) -> None:
    result = mcnemar(fixed=fixed, broken=broken)
    assert result.p_value == pytest.approx(p_value)
    assert result.mid_p_value == pytest.approx(mid_p)


def test_comparison_numbers_match_the_hand_computed_fixture(
    pair: tuple[EvaluationRun, EvaluationRun], goldens: list[GoldenExample]
) -> None:
    champion, challenger = pair
    result = compare_runs(champion=champion, challenger=challenger)
    ex = result.overall["execution_accuracy"]
    assert ex["champion"] == pytest.approx(4 / 6)
    assert ex["challenger"] == pytest.approx(5 / 6)
    assert ex["delta_points"] == pytest.approx(100 / 6, abs=1e-5)
    assert result.overall["execution_success"]["delta_points"] == 0.0
    assert result.overall["n"] == {"champion": 6, "challenger": 6}
    easy = result.segments["difficulty:easy"]["execution_accuracy"]
    medium = result.segments["difficulty:medium"]["execution_accuracy"]
    assert (easy["champion"], easy["challenger"]) == pytest.approx((1 / 3, 1.0))
    assert medium["delta_points"] == pytest.approx(-100 / 3, abs=1e-5)
    ids = [g.pk for g in goldens]
    assert [c.golden_example_id for c in result.fixed] == [ids[4], ids[5]]
    assert [c.golden_example_id for c in result.broken] == [ids[1]]
    assert result.broken[0].challenger_sql == "SELECT name FROM stadium"
    assert result.broken[0].question == ITEMS[1][0]
    assert (result.test.fixed, result.test.broken) == (2, 1)
    assert result.test.p_value == 1.0 and result.test.mid_p_value == 0.625
    # Champion's prompt holds the SQL of items 0-3, the challenger's of 0, 2-5.
    assert result.seen_split == {
        "champion": {
            "seen": {"n": 4, "execution_accuracy": 1.0},
            "unseen": {"n": 2, "execution_accuracy": 0.0},
        },
        "challenger": {
            "seen": {"n": 5, "execution_accuracy": 1.0},
            "unseen": {"n": 1, "execution_accuracy": 0.0},
        },
    }


def test_segment_regressions_fire_only_above_the_threshold(
    pair: tuple[EvaluationRun, EvaluationRun],
) -> None:
    champion, challenger = pair
    found = segment_regressions(
        champion.summary, challenger.summary, threshold_points=2.0
    )
    assert [segment for segment, _ in found] == ["difficulty:medium"]
    exactly = segment_regressions(
        {"overall": {"execution_accuracy": 0.5}},
        {"overall": {"execution_accuracy": 0.48}},
        threshold_points=2.0,
    )
    assert exactly == []  # 2.0 points is not *more than* 2.0 (float noise ignored)
    assert (
        segment_regressions(champion.summary, challenger.summary, threshold_points=34.0)
        == []
    )


def test_runs_on_different_snapshots_or_modes_are_not_compared(
    pair: tuple[EvaluationRun, EvaluationRun],
    goldens: list[GoldenExample],
    template: PromptTemplate,
    ml_lead: User,
    model_v1: ModelVersion,
) -> None:
    champion, _ = pair
    smaller = snapshot_of(goldens[:3], name="smaller")
    other = finished_run(champion.prompt_version, model_v1, smaller)
    with pytest.raises(ComparisonError) as err:
        compare_runs(champion=champion, challenger=other)
    assert err.value.field == "challenger" and "same snapshot" in err.value.message
    strict = finished_run(
        champion.prompt_version, model_v1, champion.snapshot, mode="strict"
    )
    with pytest.raises(ComparisonError, match="scoring modes"):
        compare_runs(champion=champion, challenger=strict)
    queued = start_run(
        prompt_version=prompt_with(template, ml_lead, correct=[1]),
        model_version=model_v1,
        snapshot=champion.snapshot,
        acting_user=None,
        enqueue=False,
    )
    with pytest.raises(ComparisonError) as err:
        compare_runs(champion=champion, challenger=queued)
    assert "queued" in err.value.message


def test_markdown_report_states_the_figures(
    pair: tuple[EvaluationRun, EvaluationRun],
) -> None:
    champion, challenger = pair
    report = comparison_markdown(compare_runs(champion=champion, challenger=challenger))
    assert report.startswith("# Champion vs challenger\n")
    # Rates with their Wilson 95% intervals: 4/6 and 5/6 overall, 3/3 and 2/3.
    assert (
        "| Execution accuracy | 66.7% (30.0\u201390.3) | 83.3% (43.6\u201397.0) "
        "| +16.7 |"
    ) in report
    assert (
        "| difficulty:medium | 3 | 100.0% (43.9\u2013100.0) | 66.7% (20.8\u201393.9) "
        "| -33.3 |"
    ) in report
    assert "2 fixed, 1 broken, p = 1.0000 (mid-p = 0.6250)" in report
    assert "## Fixed items (2)" in report and "## Broken items (1)" in report
    assert "`SELECT name FROM stadium`" in report
    assert "| champion | 4 | 100.0% | 2 | 0.0% |" in report
