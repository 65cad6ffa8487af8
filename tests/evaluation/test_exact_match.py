"""EM that knows equivalent spellings, without calling different queries equal."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from evaluation.exact_match import inferred_schema, normalize_sql, query_names
from evaluation.spider import load_tables, read_gold, read_predictions

DATA = Path(__file__).resolve().parents[2] / "data"
TABLES = load_tables(DATA / "spider" / "tables.json")
CONCERT = TABLES["concert_singer"].sqlglot_schema()


def _same(left: str, right: str, schema: object = CONCERT) -> bool:
    a = normalize_sql(left, schema=schema)  # type: ignore[arg-type]
    b = normalize_sql(right, schema=schema)  # type: ignore[arg-type]
    assert a is not None, left
    assert b is not None, right
    return a == b


EQUIVALENT = {
    "join order": (
        "SELECT T2.name FROM concert AS T1 JOIN stadium AS T2 "
        "ON T1.stadium_id = T2.stadium_id WHERE T1.year = 2014",
        "SELECT s.name FROM stadium AS s JOIN concert AS c "
        "ON s.stadium_id = c.stadium_id WHERE c.year = 2014",
    ),
    "join condition in WHERE": (
        "SELECT T2.name FROM concert AS T1 JOIN stadium AS T2 "
        "ON T1.stadium_id = T2.stadium_id",
        "SELECT stadium.name FROM concert, stadium "
        "WHERE stadium.stadium_id = concert.stadium_id",
    ),
    "scalar MAX as ORDER BY LIMIT 1": (
        "SELECT name FROM singer WHERE age = (SELECT max(age) FROM singer)",
        "SELECT name FROM singer WHERE age = "
        "(SELECT age FROM singer ORDER BY age DESC LIMIT 1)",
    ),
    "NOT IN forms": (
        "SELECT name FROM stadium WHERE stadium_id NOT IN "
        "(SELECT stadium_id FROM concert)",
        "SELECT name FROM stadium WHERE NOT (stadium_id IN "
        "(SELECT stadium_id FROM concert))",
    ),
    "INTERSECT operands": (
        "SELECT name FROM singer WHERE age > 30 INTERSECT SELECT name FROM singer "
        'WHERE country = "France"',
        'SELECT name FROM singer WHERE country = "France" INTERSECT '
        "SELECT name FROM singer WHERE age > 30",
    ),
    "UNION operands": (
        "SELECT name FROM singer WHERE age > 30 UNION SELECT name FROM singer "
        "WHERE age < 20 UNION SELECT name FROM singer WHERE country = 'US'",
        "SELECT name FROM singer WHERE country = 'US' UNION SELECT name FROM singer "
        "WHERE age < 20 UNION SELECT name FROM singer WHERE age > 30",
    ),
    "AND and OR operands, flipped comparison": (
        'SELECT name FROM singer WHERE age > 30 AND (country = "France" OR age < 20)',
        'SELECT name FROM singer WHERE (20 > age OR "France" = country) AND 30 < age',
    ),
    "<> and !=": (
        "SELECT name FROM singer WHERE country != 'France'",
        "SELECT name FROM singer WHERE country <> 'France'",
    ),
    "redundant parentheses": (
        "SELECT name FROM singer WHERE age > 30 AND country = 'France'",
        "SELECT (name) FROM singer WHERE ((age > (30))) AND ((country = 'France'))",
    ),
    "aliases": (
        "SELECT T1.name, count(*) FROM singer AS T1 JOIN singer_in_concert AS T2 "
        "ON T1.singer_id = T2.singer_id GROUP BY T1.singer_id",
        "SELECT a.name AS n, count(*) AS c FROM singer a JOIN singer_in_concert b "
        "ON a.singer_id = b.singer_id GROUP BY a.singer_id",
    ),
    "GROUP BY key order": (
        "SELECT country, is_male, count(*) FROM singer GROUP BY country, is_male",
        "SELECT country, is_male, count(*) FROM singer GROUP BY is_male, country",
    ),
    "IN list as OR": (
        "SELECT name FROM singer WHERE country IN ('France', 'US')",
        "SELECT name FROM singer WHERE country = 'US' OR country = 'France'",
    ),
    "subquery output aliases": (
        "SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer)",
        "SELECT name FROM singer WHERE age > (SELECT avg(age) AS a FROM singer)",
    ),
}


@pytest.mark.parametrize("pair", EQUIVALENT.values(), ids=list(EQUIVALENT))
def test_equivalent_spellings_are_an_exact_match(pair: tuple[str, str]) -> None:
    assert _same(*pair)
    assert _same(*pair, schema=None)


DIFFERENT = {
    "EXCEPT operands": (
        "SELECT name FROM singer WHERE age > 30 EXCEPT SELECT name FROM singer "
        "WHERE country = 'France'",
        "SELECT name FROM singer WHERE country = 'France' EXCEPT "
        "SELECT name FROM singer WHERE age > 30",
    ),
    "outer join order": (
        "SELECT T1.name FROM singer AS T1 LEFT JOIN singer_in_concert AS T2 "
        "ON T1.singer_id = T2.singer_id",
        "SELECT T1.name FROM singer_in_concert AS T2 LEFT JOIN singer AS T1 "
        "ON T1.singer_id = T2.singer_id",
    ),
    "top-level MAX (one NULL row on no input)": (
        "SELECT max(age) FROM singer WHERE country = 'Mars'",
        "SELECT age FROM singer WHERE country = 'Mars' ORDER BY age DESC LIMIT 1",
    ),
    "MIN as ORDER BY ASC (NULLs sort first)": (
        "SELECT name FROM singer WHERE age = (SELECT min(age) FROM singer)",
        "SELECT name FROM singer WHERE age = "
        "(SELECT age FROM singer ORDER BY age LIMIT 1)",
    ),
    "MAX under NOT IN": (
        "SELECT name FROM singer WHERE age NOT IN (SELECT max(age) FROM singer)",
        "SELECT name FROM singer WHERE age NOT IN "
        "(SELECT age FROM singer ORDER BY age DESC LIMIT 1)",
    ),
    "ties: ORDER BY LIMIT 1 versus all rows at the maximum": (
        "SELECT name FROM singer ORDER BY age DESC LIMIT 1",
        "SELECT name FROM singer WHERE age = (SELECT max(age) FROM singer)",
    ),
    "arithmetic parentheses": (
        "SELECT (age + 1) * 2 FROM singer",
        "SELECT age + 1 * 2 FROM singer",
    ),
    "boolean parentheses": (
        "SELECT name FROM singer WHERE (age > 30 OR age < 20) AND country = 'US'",
        "SELECT name FROM singer WHERE age > 30 OR age < 20 AND country = 'US'",
    ),
    "comparison direction": (
        "SELECT name FROM singer WHERE age > 30",
        "SELECT name FROM singer WHERE 30 > age",
    ),
    "NOT over an IN list": (
        "SELECT name FROM singer WHERE NOT country IN ('France', 'US')",
        "SELECT name FROM singer WHERE NOT country = 'France' OR country = 'US'",
    ),
    "GROUP BY key order under LIMIT (which tied group comes first)": (
        "SELECT country FROM singer GROUP BY country, is_male "
        "ORDER BY count(*) DESC LIMIT 1",
        "SELECT country FROM singer GROUP BY is_male, country "
        "ORDER BY count(*) DESC LIMIT 1",
    ),
    "string case": (
        'SELECT name FROM singer WHERE country = "France"',
        'SELECT name FROM singer WHERE country = "france"',
    ),
    "self-join roles": (
        "SELECT T1.name FROM singer AS T1 JOIN singer AS T2 ON T1.age > T2.age "
        "WHERE T2.country = 'US'",
        "SELECT T1.name FROM singer AS T1 JOIN singer AS T2 ON T1.age > T2.age "
        "WHERE T1.country = 'US'",
    ),
}


@pytest.mark.parametrize("pair", DIFFERENT.values(), ids=list(DIFFERENT))
def test_different_queries_are_no_exact_match(pair: tuple[str, str]) -> None:
    assert not _same(*pair)
    assert not _same(*pair, schema=None)


def test_only_a_plain_scalar_max_becomes_order_by_limit() -> None:
    distinct = normalize_sql(
        "SELECT name FROM singer WHERE age = (SELECT max(DISTINCT age) FROM singer)",
        schema=CONCERT,
    )
    assert distinct is not None
    assert "MAX(DISTINCT" in distinct
    top = normalize_sql("SELECT max(age) FROM singer", schema=CONCERT)
    assert top is not None
    assert "LIMIT" not in top


def test_without_schema_double_quoted_values_stay_case_sensitive_strings() -> None:
    jetblue = 'SELECT count(*) FROM airlines WHERE airline = "JetBlue Airways"'
    assert not _same(jetblue, jetblue.replace("JetBlue", "Jetblue"), schema=None)
    assert _same(
        jetblue, jetblue.replace('"JetBlue Airways"', "'JetBlue Airways'"), None
    )
    assert "'JetBlue Airways'" in (normalize_sql(jetblue) or "")
    # A double-quoted word the query uses as a name elsewhere stays a name.
    named = 'SELECT "Airline" FROM airlines WHERE Airline > 1'
    assert "'Airline'" not in (normalize_sql(named) or "")


def test_query_names_and_inferred_schema_come_from_the_query() -> None:
    import sqlglot

    tree = sqlglot.parse_one(
        "SELECT T1.a, b FROM x AS T1 JOIN y AS T2 ON T1.id = T2.id "
        "WHERE c NOT IN (SELECT d FROM z)",
        read="sqlite",
    )
    assert {"x", "y", "z", "t1", "t2", "a", "b", "c", "d", "id"} <= query_names(tree)
    schema = inferred_schema(tree)
    assert schema["x"] == {"a": "unknown", "id": "unknown"}
    assert schema["z"] == {"d": "unknown"}
    assert "b" not in schema["y"]  # two tables: b's owner is unknown


def test_every_dev_gold_query_normalizes_with_and_without_schema() -> None:
    gold = read_gold(DATA / "spider" / "dev_gold.sql")
    failed = [
        i
        for i, line in enumerate(gold)
        for schema in (TABLES[line.db_id].sqlglot_schema(), None)
        if normalize_sql(line.query, schema=schema) is None
    ]
    assert failed == []


def test_no_c3sql_exact_match_where_the_official_execution_verdict_is_wrong() -> None:
    gold = read_gold(DATA / "spider" / "dev_gold.sql")
    preds = read_predictions(DATA / "conformance" / "c3sql_predicted_sql.txt")
    with (DATA / "conformance" / "c3sql_official_exec.tsv").open() as f:
        verdicts = {
            int(row["idx"]): row["official_testsuite_exec"]
            for row in csv.DictReader(f, delimiter="\t")
        }
    wrong = [i for i, v in verdicts.items() if v == "0"]
    assert len(wrong) == 168
    false_positives = []
    for i in wrong:
        for schema in (TABLES[gold[i].db_id].sqlglot_schema(), None):
            text = normalize_sql(gold[i].query, schema=schema)
            if text is not None and text == normalize_sql(preds[i], schema=schema):
                false_positives.append((i, schema is not None))
    assert false_positives == []


def _corpus() -> list[dict[str, object]]:
    path = DATA / "em_equivalence" / "pairs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_equivalence_corpus_has_150_equivalent_pairs_in_every_category() -> None:
    pairs = _corpus()
    equivalent = [p for p in pairs if p["equivalent"]]
    assert len(equivalent) >= 150
    categories = {p["category"] for p in equivalent}
    assert {
        "join_order",
        "redundant_join",
        "max_order_limit",
        "set_operand_swap",
        "and_or_order",
        "aliases",
        "neq_forms",
        "not_in_forms",
        "redundant_parens",
    } <= categories
    # A near-miss either differs on its dev database or says on what data it would.
    for pair in pairs:
        if not pair["equivalent"]:
            assert pair["differs_on_dev_db"] or pair["note"], pair["id"]


def test_em_on_the_corpus_finds_unconditional_pairs_and_no_near_miss() -> None:
    missed, false_positives = [], []
    for pair in _corpus():
        schema = TABLES[str(pair["db_id"])].sqlglot_schema()
        left = normalize_sql(str(pair["left"]), schema=schema)
        same = left is not None and left == normalize_sql(
            str(pair["right"]), schema=schema
        )
        if pair["equivalent"] and "condition" not in pair and not same:
            missed.append(pair["id"])
        if not pair["equivalent"] and same:
            false_positives.append(pair["id"])
    assert false_positives == []
    assert missed == []
