"""The SQL gate: one read-only statement, or a clear rejection."""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path

import pytest

from evaluation.spider import read_gold
from targets.sqlgate import (
    InvalidSQL,
    SQLRejected,
    UnsafeSQL,
    check_sql,
)
from tests.targets.adversarial import CORPUS, Attack

DATA = Path(__file__).resolve().parents[2] / "data"


def test_corpus_is_broad_enough() -> None:
    kinds = Counter(a.kind for a in CORPUS)
    assert len(CORPUS) >= 60
    assert len(kinds) >= 15


_ENGINE_OF = {"sqlite": "sqlite", "postgres": "postgresql", "duckdb": "duckdb"}


@pytest.mark.parametrize(
    ("attack", "dialect"),
    [
        (attack, dialect)
        for dialect, engine in _ENGINE_OF.items()
        for attack in CORPUS
        if attack.applies_to(engine)
    ],
    ids=lambda v: v if isinstance(v, str) else f"{v.kind}:{v.sql[:40]}",
)
def test_gate_rejects_adversarial_sql(attack: Attack, dialect: str) -> None:
    if attack.bomb:
        # A bomb may be a legal SELECT; the sandbox must stop it (test_sandbox.py).
        with contextlib.suppress(SQLRejected):
            check_sql(attack.sql, dialect=dialect)
        return
    with pytest.raises(SQLRejected):
        check_sql(attack.sql, dialect=dialect)


@pytest.mark.parametrize(
    "sql",
    [
        "WITH d AS (DELETE FROM singer RETURNING *) SELECT * FROM d",
        "SELECT * INTO evil FROM singer",
        "SELECT * FROM singer FOR UPDATE",
        "SELECT set_config('statement_timeout', '0', false)",
    ],
)
def test_select_rooted_attacks_are_unsafe_not_invalid(sql: str) -> None:
    # sqlglot gives these a Select root: only the tree walk catches them.
    with pytest.raises(UnsafeSQL):
        check_sql(sql, dialect="postgres")


def test_unparseable_sql_is_invalid_not_unsafe() -> None:
    with pytest.raises(InvalidSQL) as caught:
        check_sql(
            "SELECT COUNT(DISTINCT language) FROM t WHERE x IN (", dialect="sqlite"
        )
    assert isinstance(caught.value, SQLRejected)
    assert caught.value.reason


def test_empty_sql_is_invalid() -> None:
    with pytest.raises(InvalidSQL):
        check_sql("  ;  ", dialect="sqlite")


def test_reason_names_the_problem() -> None:
    with pytest.raises(UnsafeSQL, match="load_extension"):
        check_sql("SELECT load_extension('x')", dialect="sqlite")
    with pytest.raises(UnsafeSQL, match="one statement"):
        check_sql("SELECT 1; SELECT 2", dialect="sqlite")


def test_returns_single_statement_without_trailing_semicolon() -> None:
    assert check_sql("  SELECT name FROM singer ;\n", dialect="sqlite") == (
        "SELECT name FROM singer"
    )


def test_small_sized_functions_are_allowed() -> None:
    assert check_sql("SELECT hex(randomblob(16))", dialect="sqlite")
    assert check_sql("SELECT printf('%5.2f', 3.14159)", dialect="sqlite")


def test_unknown_dialect_is_an_error() -> None:
    with pytest.raises(ValueError, match="dialect"):
        check_sql("SELECT 1", dialect="oracle-ish")


def test_every_runnable_golden_query_passes_the_gate() -> None:
    present = {p.name for p in (DATA / "spider" / "database").iterdir()}
    gold = read_gold(DATA / "spider" / "dev_gold.sql")
    runnable = [g for g in gold if g.db_id in present]
    assert len(runnable) == 972
    for line in runnable:
        assert check_sql(line.query, dialect="sqlite")


QUOTED_CALLS = [
    ("postgres", 'SELECT "pg_sleep"(30)'),
    ("postgres", "SELECT \"pg_read_file\"('/etc/passwd')"),
    ("postgres", "SELECT \"PG_READ_BINARY_FILE\"('/etc/passwd')"),
    ("postgres", "SELECT \"dblink\"('host=x', 'select 1')"),
    ("postgres", 'SELECT pg_catalog."pg_sleep"(30)'),
    ("postgres", "SELECT \"pg_catalog\".\"set_config\"('a', 'b', false)"),
    ("postgres", "SELECT \"lo_import\"('/etc/passwd')"),
    ("postgres", 'SELECT x FROM t WHERE "Pg_Sleep"(1) IS NULL'),
    ("sqlite", "SELECT [load_extension]('x')"),
    ("sqlite", "SELECT `LOAD_EXTENSION`('x')"),
    ("sqlite", "SELECT \"load_extension\"('x')"),
    ("sqlite", "SELECT [readfile]('/etc/passwd')"),
    ("sqlite", "SELECT name FROM singer WHERE `writefile`('/tmp/x', name)"),
    ("sqlite", "SELECT * FROM \"pragma_table_info\"('singer')"),
]


@pytest.mark.parametrize(("dialect", "sql"), QUOTED_CALLS)
def test_quoting_does_not_hide_a_denied_function(dialect: str, sql: str) -> None:
    with pytest.raises(UnsafeSQL, match="not allowed"):
        check_sql(sql, dialect=dialect)


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_quoted_harmless_function_still_passes(dialect: str) -> None:
    assert check_sql('SELECT "lower"(name) FROM singer', dialect=dialect)
