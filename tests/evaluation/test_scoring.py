"""Scoring rules: EX modes, EM normalization, Spider conformance, hardness."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from evaluation.exact_match import normalize_sql
from evaluation.scoring import (
    SQLGLOT_VERSION,
    GoldResult,
    ItemScore,
    aggregate,
    prepare_gold,
    remove_distinct,
    results_equal,
    score_item,
    spider_prepare,
)
from evaluation.spider import (
    database_path,
    hardness,
    load_examples,
    load_tables,
    read_gold,
    read_predictions,
)
from targets.sandbox import SqliteSandbox

DATA = Path(__file__).resolve().parents[2] / "data"
DB_ROOT = DATA / "spider" / "database"


# --- EX comparison modes on hand-made results ---------------------------------


def test_spider_mode_allows_column_permutation() -> None:
    gold = [(1, "a"), (2, "b")]
    assert results_equal(gold, [("a", 1), ("b", 2)], mode="spider", order_matters=False)
    assert not results_equal(
        gold, [("a", 1), ("b", 2)], mode="bird", order_matters=False
    )
    assert not results_equal(
        gold, [("a", 1), ("b", 2)], mode="strict", order_matters=False
    )


def test_spider_mode_row_order_only_with_order_by() -> None:
    gold = [(1,), (2,)]
    assert results_equal(gold, [(2,), (1,)], mode="spider", order_matters=False)
    assert not results_equal(gold, [(2,), (1,)], mode="spider", order_matters=True)


def test_spider_mode_is_a_bag_and_bird_a_set() -> None:
    gold = [(1,), (1,), (2,)]
    pred = [(1,), (2,), (2,)]
    assert not results_equal(gold, pred, mode="spider", order_matters=False)
    assert results_equal(gold, pred, mode="bird", order_matters=False)
    assert not results_equal(gold, [(1,), (2,)], mode="spider", order_matters=False)
    assert results_equal(gold, [(2,), (1,)], mode="bird", order_matters=False)


def test_spider_mode_empty_results_equal_whatever_the_columns() -> None:
    assert results_equal([], [], mode="spider", order_matters=True)
    assert not results_equal([(1,)], [], mode="spider", order_matters=False)


def test_spider_mode_plain_python_equality() -> None:
    assert results_equal([(1,)], [(1.0,)], mode="spider", order_matters=False)
    assert not results_equal([(1,)], [("1",)], mode="spider", order_matters=False)
    assert not results_equal(
        [(0.1 + 0.2,)], [(0.3,)], mode="spider", order_matters=False
    )


def test_spider_mode_column_count_must_match() -> None:
    assert not results_equal([(1, 2)], [(1,)], mode="spider", order_matters=False)


def test_spider_mode_wide_results_need_one_consistent_permutation() -> None:
    gold = [(1, 2, 3, 4, 5), (6, 7, 8, 9, 10)]
    shuffled = [(r[4], r[2], r[0], r[3], r[1]) for r in gold]
    assert results_equal(gold, shuffled, mode="spider", order_matters=True)
    # Each row is a permutation of a gold row, but no single column mapping fits.
    mixed = [(5, 4, 3, 2, 1), (6, 7, 8, 9, 10)]
    assert not results_equal(gold, mixed, mode="spider", order_matters=False)


def test_strict_mode_is_ordered_and_positional() -> None:
    gold = [(1, "a"), (2, "b")]
    assert results_equal(gold, list(gold), mode="strict", order_matters=False)
    assert not results_equal(gold, gold[::-1], mode="strict", order_matters=False)


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="mode"):
        results_equal([], [], mode="fuzzy", order_matters=False)  # type: ignore[arg-type]


# --- text rewriting done by the reference evaluator ---------------------------


def test_remove_distinct_is_token_wise() -> None:
    assert remove_distinct("SELECT DISTINCT name FROM t") == "SELECT  name FROM t"
    assert (
        remove_distinct("SELECT count(distinct x) FROM t") == "SELECT count( x) FROM t"
    )
    assert remove_distinct("SELECT 'distinct' , distinct_id") == (
        "SELECT 'distinct' , distinct_id"
    )


def test_spider_prepare_plugs_value_only_in_predictions() -> None:
    sql = "SELECT a FROM t WHERE b > = value LIMIT 1"
    assert (
        spider_prepare(sql, prediction=True) == "SELECT a FROM t WHERE b >= 1 LIMIT 1"
    )
    assert spider_prepare(sql, prediction=False) == (
        "SELECT a FROM t WHERE b >= value LIMIT 1"
    )
    # The reference replaces every occurrence, even a final one or one inside a
    # longer word (evaluation.py: p_str.replace("value", "1")); case matters.
    assert spider_prepare("SELECT a WHERE b = value", prediction=True).endswith("= 1")
    assert spider_prepare(
        "SELECT value_id FROM t WHERE c = 'value'", prediction=True
    ) == ("SELECT 1_id FROM t WHERE c = '1'")
    assert (
        spider_prepare("SELECT Value FROM t", prediction=True) == "SELECT Value FROM t"
    )


# --- EM: normalized SQL equality ----------------------------------------------


@pytest.fixture(scope="module")
def tables() -> dict[str, object]:
    return dict(load_tables(DATA / "spider" / "tables.json"))


def test_em_keeps_base_table_names(tables: dict[str, object]) -> None:
    schema = tables["concert_singer"].sqlglot_schema()  # type: ignore[attr-defined]
    singer = normalize_sql("SELECT name FROM singer", schema=schema)
    stadium = normalize_sql("SELECT name FROM stadium", schema=schema)
    assert singer is not None
    assert stadium is not None
    assert singer != stadium


def test_em_reads_double_quoted_values_as_strings(tables: dict[str, object]) -> None:
    schema = tables["flight_2"].sqlglot_schema()  # type: ignore[attr-defined]
    double = normalize_sql(
        'SELECT count(*) FROM airlines WHERE airline = "JetBlue Airways"', schema=schema
    )
    single = normalize_sql(
        "SELECT count(*) FROM airlines WHERE airline = 'JetBlue Airways'", schema=schema
    )
    assert double is not None
    assert double == single
    column = normalize_sql('SELECT "Airline" FROM airlines', schema=schema)
    assert column is not None
    assert "'Airline'" not in column


def test_em_ignores_case_and_whitespace(tables: dict[str, object]) -> None:
    schema = tables["concert_singer"].sqlglot_schema()  # type: ignore[attr-defined]
    assert normalize_sql("select  NAME from SINGER", schema=schema) == normalize_sql(
        "SELECT name FROM singer", schema=schema
    )


def test_em_ignores_output_aliases(tables: dict[str, object]) -> None:
    schema = tables["concert_singer"].sqlglot_schema()  # type: ignore[attr-defined]
    plain = normalize_sql(
        "SELECT country, count(*) FROM singer GROUP BY country", schema=schema
    )
    named = normalize_sql(
        "SELECT country AS c, count(*) AS n FROM singer GROUP BY country", schema=schema
    )
    assert plain is not None
    assert plain == named
    assert plain != normalize_sql(
        "SELECT country, count(*) FROM singer GROUP BY name", schema=schema
    )


def test_em_unparseable_is_none() -> None:
    assert normalize_sql("SELECT FROM WHERE (") is None


# --- score_item on a real database --------------------------------------------


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[dict[str, SqliteSandbox]]:
    opened: dict[str, SqliteSandbox] = {}
    yield opened
    for sandbox in opened.values():
        sandbox.close()


def _sandbox(sandboxes: dict[str, SqliteSandbox], db_id: str) -> SqliteSandbox:
    if db_id not in sandboxes:
        sandboxes[db_id] = SqliteSandbox(database_path(DB_ROOT, db_id))
    return sandboxes[db_id]


def test_score_item_with_text_or_precomputed_gold(
    sandboxes: dict[str, SqliteSandbox],
) -> None:
    sandbox = _sandbox(sandboxes, "concert_singer")
    gold_sql = "SELECT name, age FROM singer ORDER BY age DESC"
    gold = prepare_gold(gold_sql, sandbox)
    assert isinstance(gold, GoldResult)
    assert gold.has_order_by
    assert gold.row_count == 6
    swapped = "SELECT age, name FROM singer ORDER BY age DESC"
    for reference in (gold_sql, gold):
        score = score_item(swapped, reference, sandbox)
        assert score.executed
        assert score.execution_match
        assert score.row_count_ok
        assert not score.exact_match
        assert score.sqlglot_version == SQLGLOT_VERSION
    reversed_order = score_item(
        "SELECT name, age FROM singer ORDER BY age", gold, sandbox
    )
    assert not reversed_order.execution_match


def test_gate_rejection_scores_zero(sandboxes: dict[str, SqliteSandbox]) -> None:
    sandbox = _sandbox(sandboxes, "concert_singer")
    gold = prepare_gold("SELECT count(*) FROM singer", sandbox)
    score = score_item("SELECT count(*) FROM singer; DELETE FROM singer", gold, sandbox)
    assert not score.executed
    assert not score.execution_match
    assert score.error_kind == "UnsafeSQL"
    # Without the gate, the sandbox refuses the same text on its own.
    ungated = score_item(
        "SELECT count(*) FROM singer; DELETE FROM singer", gold, sandbox, gate=False
    )
    assert ungated.error_kind == "QueryRefused"


def test_row_count_sanity(sandboxes: dict[str, SqliteSandbox]) -> None:
    sandbox = _sandbox(sandboxes, "concert_singer")
    gold = prepare_gold("SELECT name FROM singer", sandbox)
    empty = score_item("SELECT name FROM singer WHERE age > 1000", gold, sandbox)
    assert empty.executed
    assert not empty.row_count_ok
    assert empty.pred_row_count == 0
    assert empty.gold_row_count == 6
    wrong = score_item("SELECT country FROM singer", gold, sandbox)
    assert wrong.row_count_ok
    assert not wrong.execution_match


def test_modes_differ_on_duplicates(sandboxes: dict[str, SqliteSandbox]) -> None:
    sandbox = _sandbox(sandboxes, "concert_singer")
    gold_sql = "SELECT country FROM singer"
    pred = "SELECT DISTINCT country FROM singer"
    # Spider removes DISTINCT from both queries before running them.
    assert score_item(pred, gold_sql, sandbox, mode="spider").execution_match
    assert score_item(pred, gold_sql, sandbox, mode="bird").execution_match
    assert not score_item(pred, gold_sql, sandbox, mode="strict").execution_match
    gold = prepare_gold(gold_sql, sandbox, mode="bird")
    with pytest.raises(ValueError, match="prepared for"):
        score_item(pred, gold, sandbox, mode="spider")


def test_aggregate_overall_and_by_segment() -> None:
    def item(ex: bool, em: bool) -> ItemScore:
        return ItemScore("spider", em, True, ex, True, "", "", 1, 1, False, 0.0)

    summary = aggregate(
        [
            (item(True, True), {"hardness": "easy"}),
            (item(False, False), {"hardness": "easy"}),
            (item(True, False), "hard"),
        ]
    )
    assert summary["overall"]["count"] == 3
    assert summary["overall"]["ex"] == pytest.approx(2 / 3)
    assert summary["segments"]["hardness"]["easy"]["ex"] == pytest.approx(0.5)
    assert summary["segments"]["segment"]["hard"]["em"] == 0.0


# --- Spider dev conformance ---------------------------------------------------


def _runnable() -> list[tuple[int, str, str, str]]:
    gold = read_gold(DATA / "spider" / "dev_gold.sql")
    preds = read_predictions(DATA / "conformance" / "c3sql_predicted_sql.txt")
    assert len(gold) == len(preds) == 1034
    return [
        (i, g.db_id, g.query, p)
        for i, (g, p) in enumerate(zip(gold, preds, strict=True))
        if database_path(DB_ROOT, g.db_id).is_file()
    ]


@pytest.fixture(scope="module")
def golds(sandboxes: dict[str, SqliteSandbox]) -> dict[int, GoldResult]:
    schemas = load_tables(DATA / "spider" / "tables.json")
    return {
        i: prepare_gold(
            gold_sql, _sandbox(sandboxes, db_id), schema=schemas[db_id].sqlglot_schema()
        )
        for i, db_id, gold_sql, _ in _runnable()
    }


def test_prediction_reader_cuts_at_first_tab() -> None:
    preds = read_predictions(DATA / "conformance" / "c3sql_predicted_sql.txt")
    assert "\t" not in preds[770]
    assert preds[770].rstrip().endswith("IN (")


def test_gold_against_gold_scores_one_on_all_runnable(
    golds: dict[int, GoldResult], sandboxes: dict[str, SqliteSandbox]
) -> None:
    items = _runnable()
    assert len(items) == 972
    for i, db_id, gold_sql, _ in items:
        score = score_item(gold_sql, golds[i], _sandbox(sandboxes, db_id))
        assert score.execution_match, (i, gold_sql, score.error)
        assert score.row_count_ok or golds[i].row_count == 0


def test_c3sql_verdicts_match_official_evaluator(
    golds: dict[int, GoldResult], sandboxes: dict[str, SqliteSandbox]
) -> None:
    with (DATA / "conformance" / "c3sql_official_exec.tsv").open() as handle:
        official = {
            int(r["idx"]): r["official_testsuite_exec"]
            for r in csv.DictReader(handle, delimiter="\t")
        }
    disagreements = []
    correct = 0
    for i, db_id, _, pred in _runnable():
        score = score_item(pred, golds[i], _sandbox(sandboxes, db_id))
        expected = official[i] == "1"
        correct += score.execution_match
        if expected and score.error_kind in {"UnsafeSQL", "InvalidSQL"}:
            disagreements.append((i, "rejected by gate", score.error))
        elif score.execution_match != expected:
            disagreements.append((i, official[i], score.error))
    assert disagreements == []
    assert correct == sum(v == "1" for v in official.values())


# --- readers and hardness -----------------------------------------------------


def test_dev_json_and_gold_file_agree() -> None:
    examples = load_examples(DATA / "spider" / "dev.json")
    gold = read_gold(DATA / "spider" / "dev_gold.sql")
    assert len(examples) == len(gold)
    assert [e.db_id for e in examples] == [g.db_id for g in gold]


@pytest.mark.parametrize(
    ("sql", "level"),
    [
        # 0 components, 0 others.
        ("SELECT count(*) FROM singer", "easy"),
        # ORDER BY = 1 component; 3 select columns = 1 other.
        ("SELECT name, country, age FROM singer ORDER BY age DESC", "medium"),
        # WHERE = 1 component, one nested query, no others.
        (
            "SELECT song_name FROM singer WHERE age > (SELECT avg(age) FROM singer)",
            "hard",
        ),
        # WHERE + 2 joins = 3 components, no others.
        (
            "SELECT T2.name FROM singer_in_concert AS T1 JOIN singer AS T2 "
            "ON T1.singer_id = T2.singer_id JOIN concert AS T3 "
            "ON T1.concert_id = T3.concert_id WHERE T3.year = 2014",
            "hard",
        ),
        # EXCEPT = 1 nested query; the right-hand side's joins do not count.
        (
            "SELECT name FROM stadium EXCEPT SELECT T2.name FROM concert AS T1 "
            "JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id WHERE T1.year = 2014",
            "hard",
        ),
        # GROUP + ORDER + LIMIT + join = 4 components.
        (
            "SELECT T2.name, count(*) FROM concert AS T1 JOIN stadium AS T2 "
            "ON T1.stadium_id = T2.stadium_id GROUP BY T1.stadium_id "
            "ORDER BY count(*) DESC LIMIT 1",
            "extra",
        ),
        # 2 components (WHERE, OR) and 2 others (2 columns, 2 conditions): too many
        # others for medium, too few components for hard, so it falls to extra.
        ("SELECT name, age FROM singer WHERE age > 30 OR country = 'France'", "extra"),
        # The same with one column: 1 other, 2 components = medium.
        ("SELECT name FROM singer WHERE age > 30 OR country = 'France'", "medium"),
    ],
)
def test_hardness_by_hand(sql: str, level: str) -> None:
    assert hardness(sql) == level


def test_hardness_distribution_matches_official_dev_counts() -> None:
    # Counts printed by the official evaluator for Spider dev (all 1034 items).
    counts = Counter(
        hardness(g.query) for g in read_gold(DATA / "spider" / "dev_gold.sql")
    )
    assert counts == {"easy": 248, "medium": 446, "hard": 174, "extra": 166}
