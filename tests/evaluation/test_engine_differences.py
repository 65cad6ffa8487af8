"""The reasons a query differs across engines (no database needed)."""

import pytest

from evaluation.dialects import transpile_sql
from evaluation.engine_differences import (
    CASE_COMPARE,
    CASE_LIKE,
    COLLATION,
    FLOAT_FORMAT,
    GROUP_BY,
    INTEGER_DIVISION,
    NULL_ORDERING,
    SCALAR_SUBQUERY,
    TIE_ORDER,
    TYPE_COERCION,
    UNEXPLAINED,
    UNTRANSPILABLE,
    classify_error,
    classify_mismatch,
    compare_across,
)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ('column "t2.name" must appear in the GROUP BY clause or be used in an '
         "aggregate function", GROUP_BY),
        ('Binder Error: column "name" must appear in the GROUP BY clause or must '
         "be part of an aggregate function.", GROUP_BY),
        ("operator does not exist: text = integer", TYPE_COERCION),
        ("Binder Error: Cannot compare values of type VARCHAR and type "
         "INTEGER_LITERAL", TYPE_COERCION),
        ("(1242, 'Subquery returns more than 1 row')", SCALAR_SUBQUERY),
        ("subquery in FROM must have an alias", UNTRANSPILABLE),
        ("disk on fire", "other engine error"),
    ],
)  # fmt: skip
def test_engine_messages_map_to_reasons(message: str, reason: str) -> None:
    found = classify_error(message)
    assert found.reason == reason
    assert found.evidence == message.splitlines()[0][:200]


def mismatch(sql: str, source: list[tuple[object, ...]],
             target: list[tuple[object, ...]], order: bool = False) -> str:  # fmt: skip
    return classify_mismatch(
        sql=sql, source_rows=source, target_rows=target, order_matters=order
    ).reason


def test_same_rows_in_another_order_are_nulls_or_ties() -> None:
    sql = "SELECT a FROM t ORDER BY a"
    assert mismatch(sql, [(None,), (1,)], [(1,), (None,)], True) == NULL_ORDERING
    assert mismatch(sql, [(1, "x"), (1, "y")], [(1, "y"), (1, "x")], True) == (
        TIE_ORDER
    )


def test_values_equal_but_for_digits_case_or_type() -> None:
    assert mismatch("SELECT avg(a) FROM t", [(1 / 3,)], [(0.3333,)]) == FLOAT_FORMAT
    assert mismatch("SELECT a FROM t WHERE b LIKE '%x%'", [("Ax",)], [("ax",)]) == (
        CASE_LIKE
    )
    assert mismatch("SELECT a FROM t WHERE b = 'x'", [("A",)], [("a",)]) == (
        CASE_COMPARE
    )
    assert mismatch("SELECT a FROM t", [("A",)], [("a",)]) == COLLATION
    assert mismatch("SELECT a FROM t", [("1",)], [(1,)]) == TYPE_COERCION


def test_other_values_are_explained_by_the_query_shape() -> None:
    assert mismatch("SELECT a / b FROM t", [(2,)], [(2.5,)]) == INTEGER_DIVISION
    assert mismatch("SELECT name, count(*) FROM t GROUP BY id", [("a", 2)],
                    [("b", 2)]) == GROUP_BY  # fmt: skip
    assert mismatch("SELECT max(a), name FROM t", [(3, "a")], [(3, "b")]) == GROUP_BY
    assert mismatch("SELECT a FROM t ORDER BY b LIMIT 1", [("a",)], [("b",)],
                    True) == TIE_ORDER  # fmt: skip
    assert mismatch("SELECT a FROM t", [("a",)], [("b",)]) == UNEXPLAINED


def test_compare_across_is_none_when_the_spider_rules_see_no_difference() -> None:
    sql = "SELECT a, b FROM t"
    rows = [(1, "x"), (2, "y")]
    assert compare_across(sql=sql, source_rows=rows, target=list(reversed(rows)),
                          order_matters=False) is None  # fmt: skip
    failed = compare_across(sql=sql, source_rows=rows,
                            target=RuntimeError("syntax error at or near"),
                            order_matters=False)  # fmt: skip
    assert failed is not None and failed.reason == UNTRANSPILABLE


def test_transpiling_takes_the_targets_spelling_of_tables_and_aliases() -> None:
    moved = transpile_sql(
        "SELECT T2.id, documents.name FROM Documents JOIN ship AS t2 "
        "ON documents.id = T2.doc",
        read="sqlite",
        write="mysql",
        tables=["documents", "Ship"],
    )
    assert moved == (
        "SELECT t2.id, documents.name FROM documents JOIN Ship AS t2 "
        "ON documents.id = t2.doc"
    )
