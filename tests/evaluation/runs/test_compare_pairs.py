"""Any two runs on one snapshot: the selectors behind the compare page.

Fixture (as in test_comparison): six golden items, easy 0, 4, 5 and medium
1, 2, 3. Run A answers items 0-3 right, run B items 0 and 2-5. By hand: EX 4/6
vs 5/6 (+16.7 points); fixed {4, 5}, broken {1}; easy 1/3 vs 3/3, medium 3/3 vs
2/3; McNemar on 2 and 1 discordant pairs: p = 1.0.
"""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evaluation.models import EvaluationResult, EvaluationRun, GoldenExample
from evaluation.runs import pair_rows
from evaluation.runs.exceptions import ComparisonError
from evaluation.runs.pairs import (
    ItemFilters,
    get_item_pair,
    list_pair_items,
    pair_summary,
    partner_runs,
    picker_snapshots,
    read_pair,
)
from evaluation.statistics import wilson_interval
from registry.models import ModelVersion, PromptTemplate
from targets.models import TargetDatabase
from tests.evaluation.runs.run_fixtures import (
    ITEMS,
    WRONG_SQL,
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
    a = prompt_with(template, ml_lead, correct=[0, 1, 2, 3])
    b = prompt_with(template, ml_lead, correct=[0, 2, 3, 4, 5])
    return finished_run(a, model_v1, snapshot), finished_run(b, model_v1, snapshot)


def indexes(items: list[Any], goldens: list[GoldenExample]) -> list[int]:
    position = {g.pk: i for i, g in enumerate(goldens)}
    return [position[item.example.pk] for item in items]


def test_summary_rates_intervals_delta_and_test_match_the_hand_computation(
    pair: tuple[EvaluationRun, EvaluationRun],
) -> None:
    a, b = pair
    summary = pair_summary(a, b)
    ex = summary.headline
    assert (ex.a.successes, ex.a.n, ex.b.successes, ex.b.n) == (4, 6, 5, 6)
    assert ex.a.interval == wilson_interval(4, 6)
    assert ex.a.percent == "66.7%" and ex.b.percent == "83.3%"
    low, high = wilson_interval(5, 6) or (0, 0)
    assert ex.b.interval_text == f"{low * 100:.1f}\u2013{high * 100:.1f}"
    assert ex.delta_points == pytest.approx(100 / 6) and ex.delta_text == "+16.7"
    assert (ex.test.fixed, ex.test.broken, ex.test.p_value) == (2, 1, 1.0)
    # Every metric agrees with what each run stored in its summary.
    for row in summary.metrics:
        assert row.a.value == pytest.approx(a.summary["overall"][row.name])
        assert row.b.value == pytest.approx(b.summary["overall"][row.name])


def test_segments_carry_their_own_deltas_and_discordant_pairs(
    pair: tuple[EvaluationRun, EvaluationRun],
) -> None:
    segments = {row.name: row for row in pair_summary(*pair).segments}
    easy, medium = segments["difficulty:easy"], segments["difficulty:medium"]
    assert easy.delta_text == "+66.7" and (easy.test.fixed, easy.test.broken) == (2, 0)
    assert medium.delta_text == "-33.3" and (medium.test.fixed, medium.test.broken) == (
        0,
        1,
    )
    assert segments["domain:concert_singer"].b.n == len(ITEMS)


def test_same_run_twice_is_refused_naming_b(
    pair: tuple[EvaluationRun, EvaluationRun],
) -> None:
    a, _ = pair
    with pytest.raises(ComparisonError, match="cannot be compared with itself") as err:
        read_pair(a, a)
    assert err.value.field == "b"


def test_runs_on_different_snapshots_are_refused(
    pair: tuple[EvaluationRun, EvaluationRun],
    goldens: list[GoldenExample],
    model_v1: ModelVersion,
) -> None:
    a, b = pair
    other = finished_run(b.prompt_version, model_v1, snapshot_of(goldens[:3], "small"))
    with pytest.raises(ComparisonError, match="only runs on the same snapshot"):
        pair_summary(a, other)
    with pytest.raises(ComparisonError, match="same snapshot"):
        list_pair_items(a, other, ItemFilters())


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (ItemFilters(), [0, 1, 2, 3, 4, 5]),
        (ItemFilters(change="changed"), [1, 4, 5]),
        (ItemFilters(change="fixed"), [4, 5]),
        (ItemFilters(change="broken"), [1]),
        (ItemFilters(change="changed", segment="difficulty:easy"), [4, 5]),
        (ItemFilters(segment="difficulty:medium"), [1, 2, 3]),
        (ItemFilters(q="french"), [2]),
        # B's prediction for item 1 is the wrong SQL; only B's text matches.
        (ItemFilters(change="broken", q="stadium"), [1]),
        (ItemFilters(q="nothing like this"), []),
    ],
)
def test_item_filters_classify_fixed_and_broken(
    pair: tuple[EvaluationRun, EvaluationRun],
    goldens: list[GoldenExample],
    filters: ItemFilters,
    expected: list[int],
) -> None:
    page, items = list_pair_items(*pair, filters)
    assert indexes(items, goldens) == expected
    assert page.paginator.count == len(expected)
    changes = {item.change for item in items}
    if filters.change == "fixed":
        assert changes == {"fixed"}


def test_a_page_of_items_costs_the_same_few_queries_whatever_its_size(
    pair: tuple[EvaluationRun, EvaluationRun],
    django_assert_max_num_queries: Any,
) -> None:
    counts = []
    for per_page in (2, 6):
        with CaptureQueriesContext(connection) as queries:
            _, items = list_pair_items(*pair, ItemFilters(), per_page=per_page)
            for item in items:  # what the page template reads
                _ = (item.example.question, item.b.predicted_sql, item.change)
        counts.append(len(queries))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(3):
        _, items = list_pair_items(*pair, ItemFilters(change="changed"), page=1)
        _ = [(i.example.question, i.b.predicted_sql) for i in items]
    with django_assert_max_num_queries(2):
        pair_summary(*pair)


def test_pages_split_the_items_in_golden_order(
    pair: tuple[EvaluationRun, EvaluationRun], goldens: list[GoldenExample]
) -> None:
    first, items = list_pair_items(*pair, ItemFilters(), page=1, per_page=4)
    _, rest = list_pair_items(*pair, ItemFilters(), page="2", per_page=4)
    assert first.paginator.num_pages == 2
    assert indexes(items, goldens) == [0, 1, 2, 3] and indexes(rest, goldens) == [4, 5]
    # A page past the end or not a number shows a real page, never an error.
    assert list_pair_items(*pair, ItemFilters(), page="99", per_page=4)[0].number == 2
    assert list_pair_items(*pair, ItemFilters(), page="x", per_page=4)[0].number == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [({"change": "sideways"}, "change"), ({"segment": "colour:red"}, "segment")],
)
def test_bad_item_filters_name_the_parameter(
    params: dict[str, str], field: str
) -> None:
    with pytest.raises(ComparisonError) as err:
        ItemFilters.read(params)
    assert err.value.field == field


def test_picker_offers_only_runs_that_share_snapshot_and_mode(
    pair: tuple[EvaluationRun, EvaluationRun],
    goldens: list[GoldenExample],
    template: PromptTemplate,
    model_v1: ModelVersion,
) -> None:
    a, b = pair
    alone = finished_run(a.prompt_version, model_v1, snapshot_of(goldens[:2], "two"))
    strict = finished_run(a.prompt_version, model_v1, a.snapshot, mode="strict")
    groups = picker_snapshots(template)
    assert [(g["snapshot"].pk, g["mode"]) for g in groups] == [
        (a.snapshot_id, "spider")
    ]
    assert {r.pk for r in groups[0]["runs"]} == {a.pk, b.pk}
    assert list(partner_runs(a)) == [b]
    assert alone not in partner_runs(b) and strict not in partner_runs(b)


def test_row_preview_runs_both_predictions_in_the_sandbox_and_reads_gold_rows(
    pair: tuple[EvaluationRun, EvaluationRun],
    goldens: list[GoldenExample],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = pair
    calls: list[str] = []
    real = pair_rows.run_on_target

    def counting(target: TargetDatabase, sql: str) -> Any:
        calls.append(sql)
        return real(target, sql)

    monkeypatch.setattr(pair_rows, "run_on_target", counting)
    item = get_item_pair(a, b, str(goldens[1].pk))
    assert item.change == "broken"
    gold = pair_rows.gold_preview(item.a, run=a)
    assert calls == []  # the gold rows come from the snapshot's cache
    assert [c.lower() for c in gold.columns] == ["name", "country", "age"]
    assert gold.row_count == 6
    assert len(gold.rows) == pair_rows.PREVIEW_ROWS
    assert gold.count_text == "6 rows"
    right, wrong = (
        pair_rows.prediction_preview(item.a),
        pair_rows.prediction_preview(item.b),
    )
    assert calls == [item.a.predicted_sql, WRONG_SQL]
    assert right.rows == gold.rows
    assert [c.lower() for c in wrong.columns] == ["name"] and wrong.error == ""
    assert wrong.rows != gold.rows


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT nope FROM singer", "no such column: nope"),
        ("DELETE FROM singer", "Refused by the SQL gate"),
        ("", "No SQL to run"),
    ],
)
def test_a_failing_prediction_shows_the_engines_message(
    pair: tuple[EvaluationRun, EvaluationRun],
    goldens: list[GoldenExample],
    sql: str,
    message: str,
) -> None:
    a, b = pair
    # Results are written once by the runner; a stored prediction that fails
    # today (or never ran) is what this stands for.
    EvaluationResult.objects.filter(run=b, golden_example=goldens[0]).update(
        predicted_sql=sql
    )
    preview = pair_rows.prediction_preview(get_item_pair(a, b, str(goldens[0].pk)).b)
    assert message in preview.error and preview.rows == ()
    assert preview.count_text == "no result"


def test_unknown_or_malformed_items_are_refused(
    pair: tuple[EvaluationRun, EvaluationRun],
) -> None:
    with pytest.raises(ComparisonError, match="not an item id"):
        get_item_pair(*pair, "1; DROP")
    with pytest.raises(EvaluationResult.DoesNotExist):
        get_item_pair(*pair, "999999")


def test_sql_diff_marks_tokens_only_in_one_prediction() -> None:
    pieces = pair_rows.sql_diff(
        "SELECT name FROM singer WHERE age > 20", "SELECT name FROM stadium"
    )
    assert ("removed", "singer WHERE age > 20") in pieces
    assert ("added", "stadium") in pieces
    assert "".join(t for k, t in pieces if k != "added") == (
        "SELECT name FROM singer WHERE age > 20"
    )
    assert pair_rows.sql_diff("", "") == []
