"""EM's shortcuts (answers remembered per schema, trees rewritten in place) change
no answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError

import evaluation.canonical as canonical
import evaluation.exact_match as exact_match
from evaluation.exact_match import normalize_sql, normalize_tree, prepare_schema
from evaluation.spider import load_tables

DATA = Path(__file__).resolve().parents[2] / "data"
CONCERT = load_tables(DATA / "spider" / "tables.json")["concert_singer"]
QUERY = (
    "SELECT T2.name FROM concert AS T1 JOIN stadium AS T2 "
    "ON T1.stadium_id = T2.stadium_id WHERE NOT (T1.year IN (2014, 2015)) "
    "AND NOT (NOT T2.capacity > 10)"
)


def _schema() -> exact_match.PreparedSchema:
    return prepare_schema(CONCERT.sqlglot_schema())


def test_a_remembered_answer_equals_a_fresh_one() -> None:
    schema = _schema()
    first = normalize_sql(QUERY, schema=schema)
    assert first is not None
    assert schema.memo == {QUERY: first}
    assert normalize_sql(QUERY, schema=schema) == first
    assert normalize_sql(QUERY, schema=CONCERT.sqlglot_schema()) == first


def test_the_memo_is_consulted_and_belongs_to_one_schema() -> None:
    schema = _schema()
    schema.memo[QUERY] = "remembered"
    assert normalize_sql(QUERY, schema=schema) == "remembered"
    assert normalize_sql(QUERY, schema=_schema()) != "remembered"


def test_unparsable_text_is_remembered_as_none() -> None:
    schema = _schema()
    assert normalize_sql("SELEC nothing FROM", schema=schema) is None
    assert schema.memo == {"SELEC nothing FROM": None}


def test_the_memo_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exact_match, "_MEMO_ENTRIES", 3)
    schema = _schema()
    for year in range(2000, 2008):
        normalize_sql(
            f"SELECT name FROM stadium WHERE capacity > {year}",  # noqa: S608
            schema=schema,
        )
    assert 1 <= len(schema.memo) <= 3
    long_sql = "SELECT name FROM stadium WHERE " + " OR ".join(  # noqa: S608
        f"capacity = {n}" for n in range(400)
    )
    assert normalize_sql(long_sql, schema=schema) is not None
    assert long_sql not in schema.memo


def test_a_given_tree_gives_the_answer_of_the_text() -> None:
    tree = sqlglot.parse_one(QUERY, read="sqlite")
    expected = normalize_sql(QUERY, schema=_schema())
    assert normalize_sql(QUERY, schema=_schema(), tree=tree) == expected
    # The tree was consumed: it no longer reads as the query it was.
    assert tree.sql(dialect="sqlite") != sqlglot.transpile(QUERY, read="sqlite")[0]


def _spoiling_simplify(tree: exp.Expr, **_: Any) -> exp.Expr:
    # Fails half-way, as a rewrite in place can: the tree is already changed.
    for column in tree.find_all(exp.Column):
        column.set("this", exp.to_identifier("spoiled"))
    raise OptimizeError("cannot simplify")


def _unsimplified(sql: str, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> str | None:
    with monkeypatch.context() as patch:
        patch.setattr(canonical, "normalize", lambda tree: tree)
        patch.setattr(canonical, "simplify", lambda tree, **_: tree)
        return normalize_sql(sql, **kw)


@pytest.mark.parametrize("with_schema", [True, False])
def test_a_failed_formula_rewrite_keeps_the_written_formula(
    monkeypatch: pytest.MonkeyPatch, with_schema: bool
) -> None:
    schema = _schema() if with_schema else None
    expected = _unsimplified(QUERY, monkeypatch, schema=schema)
    assert expected is not None
    assert "spoiled" not in expected
    if not with_schema:
        # The rewrite matters here: its failure must show in the text.
        assert expected != normalize_sql(QUERY, schema=schema)
    monkeypatch.setattr(canonical, "simplify", _spoiling_simplify)
    assert normalize_sql(QUERY, schema=_schema() if with_schema else None) == expected
    tree = sqlglot.parse_one(QUERY, read="sqlite")
    assert normalize_tree(tree, schema=schema) == expected
    fresh = sqlglot.parse_one(QUERY, read="sqlite")
    assert normalize_sql(QUERY, schema=_schema(), tree=fresh) == _unsimplified(
        QUERY, monkeypatch, schema=_schema()
    )


def test_a_join_on_a_derived_table_keeps_its_canonical_text() -> None:
    # Nodes that hold a query are copied, not moved, by the join rewrite: the
    # inner query's own joins stay as written (the canonical text of EM 2).
    sql = (
        "SELECT T1.name FROM stadium AS T1 JOIN (SELECT c.stadium_id FROM concert "
        "AS c JOIN stadium AS s ON c.stadium_id = s.stadium_id) AS T2 "
        "ON T1.stadium_id = T2.stadium_id"
    )
    text = normalize_sql(sql, schema=_schema())
    assert text is not None
    assert "JOIN" in text.upper()
    assert text.upper().count("JOIN") == 1
