"""The error taxonomy of corrections: rules one by one, then the labelled corpora."""

from __future__ import annotations

import pytest

from evaluation.error_taxonomy import (
    CLASSES,
    CLASSIFIER_VERSION,
    classify_correction,
)
from evaluation.spider import load_tables
from evaluation.taxonomy_corpus import load_corpus, score_corpus
from tests.helpers import ROOT

CORPUS_DIR = ROOT / "data" / "error_taxonomy"
SINGER = {
    "singer": {"singer_id": "int", "name": "text", "country": "text", "age": "int"},
    "concert": {"concert_id": "int", "singer_id": "int", "year": "int"},
}


def classes(generated: str, corrected: str, **kwargs: object) -> tuple[str, ...]:
    return classify_correction(generated, corrected, **kwargs).classes  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("generated", "corrected", "expected"),
    [
        ("SELECT name FROM singer", "SELECT name FROM concert", ("wrong_table",)),
        (
            "SELECT name FROM singer",
            "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 "
            "ON T1.singer_id = T2.singer_id",
            ("wrong_join",),
        ),
        ("SELECT name, age FROM singer", "SELECT name FROM singer", ("wrong_column",)),
        (
            "SELECT avg(age) FROM singer",
            "SELECT max(age) FROM singer",
            ("wrong_aggregation",),
        ),
        (
            "SELECT country, count(*) FROM singer",
            "SELECT country, count(*) FROM singer GROUP BY country",
            ("wrong_aggregation",),
        ),
        (
            "SELECT name FROM singer ORDER BY age",
            "SELECT name FROM singer ORDER BY age DESC",
            ("wrong_order_limit",),
        ),
        (
            "SELECT country FROM singer",
            "SELECT DISTINCT country FROM singer",
            ("distinct",),
        ),
        (
            "SELECT name FROM singer WHERE age > 30",
            "SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer)",
            ("nesting",),
        ),
        (
            "SELECT name FROM singer",
            "SELECT name FROM singer WHERE age = 1 UNION SELECT name FROM concert",
            ("set_operation",),
        ),
        (
            "SELECT TOP 3 name FROM singer",
            "SELECT name FROM singer LIMIT 3",
            ("dialect_syntax",),
        ),
        (
            "SELECT YEAR(d) FROM concert",
            "SELECT strftime('%Y', d) FROM concert",
            ("dialect_syntax",),
        ),
        (
            "SELECT max(age), min(age) FROM singer",
            "SELECT min(age), max(age) FROM singer",
            ("other",),
        ),
    ],
)
def test_each_class_is_named_for_the_aspect_that_differs(
    generated: str, corrected: str, expected: tuple[str, ...]
) -> None:
    assert classes(generated, corrected, schema=SINGER) == expected


def test_a_filter_names_the_operator_and_the_literal() -> None:
    result = classify_correction(
        "SELECT name FROM singer WHERE age > 20 AND country = 'USA'",
        "SELECT name FROM singer WHERE age >= 20 AND country = 'France'",
    )
    assert result.classes == ("wrong_filter",)
    assert "WHERE age: operator > → >=" in result.details["wrong_filter"]
    assert "WHERE country: value 'USA' → 'France'" in result.details["wrong_filter"]


@pytest.mark.parametrize(
    ("generated", "corrected"),
    [
        ("SELECT name FROM singer WHERE country = 'france'", "... = 'France'"),
        ("SELECT name FROM singer WHERE age = '30'", "... = 30"),
        ("SELECT name FROM singer WHERE country = ' USA '", "... = 'USA'"),
        ("SELECT name FROM singer WHERE d = '03/15/2020'", "... = '2020-03-15'"),
    ],
)
def test_a_literal_that_differs_only_in_format_is_value_formatting(
    generated: str, corrected: str
) -> None:
    head = generated.split(" = ")[0]
    full = f"{head} = {corrected.split(' = ')[1]}"
    assert classes(generated, full) == ("value_format",)


def test_double_quoted_values_are_strings_as_sqlite_reads_them() -> None:
    assert classes(
        'SELECT name FROM singer WHERE country = "usa"',
        "SELECT name FROM singer WHERE country = 'USA'",
        schema=SINGER,
    ) == ("value_format",)


def test_aliases_and_layout_are_no_error() -> None:
    assert (
        classes(
            "select t1.name from singer as t1 join concert as t2 "
            "on t1.singer_id = t2.singer_id",
            "SELECT S.name FROM singer S JOIN concert C ON C.singer_id = S.singer_id",
            schema=SINGER,
        )
        == ()
    )


def test_a_correction_can_carry_several_classes() -> None:
    assert classes(
        "SELECT name, country FROM singer ORDER BY age DESC",
        "SELECT count(*) FROM singer WHERE age > 20",
    ) == ("wrong_column", "wrong_filter", "wrong_aggregation", "wrong_order_limit")


def test_other_carries_the_diff() -> None:
    result = classify_correction(
        "SELECT max(age), min(age) FROM singer", "SELECT min(age), max(age) FROM singer"
    )
    assert result.details["other"][0].startswith("--- generated\n+++ corrected")


def test_no_generated_sql_and_unparsable_corrections_are_other() -> None:
    assert classes("", "SELECT 1") == ("other",)
    assert classes("SELECT 1", "SELEC nothing (") == ("other",)


def test_hostile_input_is_classified_without_raising() -> None:
    deep = "SELECT " + "(" * 3000 + "1" + ")" * 3000
    assert classes(deep, "SELECT 1") in {("dialect_syntax",), ("other",)}
    long_list = "SELECT a FROM t WHERE a IN (" + ", ".join(["1"] * 20_000) + ")"  # noqa: S608
    assert classes(long_list, "SELECT a FROM t WHERE a IN (2)") == ("wrong_filter",)
    assert classes("SELECT 'é€😀' FROM t", "SELECT 'é€' FROM t") == ("wrong_column",)
    assert classes("SELECT 1; DROP TABLE t", "SELECT 1") == ("dialect_syntax",)


def test_the_result_names_its_rules_version() -> None:
    result = classify_correction("SELECT a FROM t", "SELECT b FROM t")
    assert result.as_dict() == {
        "version": CLASSIFIER_VERSION,
        "classes": ["wrong_column"],
        "details": {"wrong_column": ["t.a → t.b"]},
    }


def _schemas() -> dict[str, dict[str, dict[str, str]]]:
    tables = load_tables(ROOT / "data" / "spider" / "tables.json")
    return {name: schema.sqlglot_schema() for name, schema in tables.items()}


def test_the_hand_written_corpus_covers_every_class_on_spider_dev() -> None:
    pairs = load_corpus(CORPUS_DIR / "spider_dev_corrections.jsonl")
    assert len(pairs) >= 100
    assert len({p.db_id for p in pairs}) >= 15
    for name in CLASSES:
        assert sum(name in p.classes for p in pairs) >= 5, name


@pytest.mark.parametrize(
    ("corpus", "floor"),
    [("spider_dev_corrections.jsonl", 0.95), ("c3sql_errors.jsonl", 0.9)],
)
def test_precision_and_recall_per_class_on_the_labelled_corpora(
    corpus: str, floor: float
) -> None:
    figures, misses = score_corpus(load_corpus(CORPUS_DIR / corpus), _schemas())
    for row in figures.values():
        if row.support == 0:
            continue
        assert row.precision is not None and row.precision >= floor, row
        assert row.recall is not None and row.recall >= floor, row
    assert len(misses) <= 0.05 * sum(1 for _ in load_corpus(CORPUS_DIR / corpus))


def test_the_corpus_refuses_an_unknown_label(tmp_path: pytest.TempPathFactory) -> None:
    bad = tmp_path / "bad.jsonl"  # type: ignore[operator]
    bad.write_text(
        '{"id": "x", "db_id": "d", "generated": "SELECT 1", "corrected": "SELECT 2",'
        ' "classes": ["typo"]}\n'
    )
    with pytest.raises(ValueError, match="unknown classes"):
        load_corpus(bad)
