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


ENGINE_OF_DIALECT = {
    "sqlite": "sqlite",
    "postgres": "postgresql",
    "mysql": "mariadb",
    "duckdb": "duckdb",
}


@pytest.mark.parametrize(
    ("dialect", "attack"),
    [
        (dialect, attack)
        for dialect, engine in ENGINE_OF_DIALECT.items()
        for attack in CORPUS
        if attack.applies_to(engine)
    ],
    ids=lambda v: v if isinstance(v, str) else f"{v.kind}:{v.sql[:40]}",
)
def test_gate_rejects_adversarial_sql(dialect: str, attack: Attack) -> None:
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


# --- MySQL / MariaDB ------------------------------------------------------------

MYSQL_DENIED = [
    ("SELECT LOAD_FILE('/etc/passwd')", "load_file"),
    ("SELECT `load_file`('/etc/passwd')", "load_file"),
    ("SELECT CONVERT(LOAD_FILE('/etc/passwd') USING utf8)", "load_file"),
    ("SELECT SLEEP(1)", "sleep"),
    ("SELECT Name FROM singer WHERE Name = 'x' OR SLEEP(5)", "sleep"),
    ("SELECT BENCHMARK(1000000, MD5('x'))", "benchmark"),
    ("SELECT GET_LOCK('a', 10)", "get_lock"),
    ("SELECT RELEASE_LOCK('a')", "release_lock"),
    ("SELECT IS_USED_LOCK('a')", "is_used_lock"),
    ("SELECT MASTER_POS_WAIT('log', 4)", "master_pos_wait"),
    ("SELECT LAST_INSERT_ID(5)", "last_insert_id"),
    ("SELECT NEXTVAL(s)", "nextval"),
    ("SELECT SETVAL(s, 5)", "setval"),
    ("SELECT @x := 1", "variables"),
    ("SELECT Name FROM singer WHERE (@n := @n + 1) > 0", "variables"),
    ("SELECT @x", "variables"),
    ("SELECT @@datadir", "variables"),
    ("SELECT @@session.max_statement_time", "variables"),
    ("SELECT 1 INTO @x", "Into"),
    ("SELECT * FROM information_schema.tables", "information_schema"),
    ("SELECT * FROM `INFORMATION_SCHEMA`.`COLUMNS`", "information_schema"),
    ("SELECT * FROM mysql.user", "mysql"),
    ("SELECT * FROM `MySQL`.`global_priv`", "mysql"),
    ("SELECT * FROM performance_schema.threads", "performance_schema"),
    ("SELECT * FROM sys.processlist", "sys"),
    ("SELECT s.Name FROM singer s JOIN mysql.user u ON u.User = s.Name", "mysql"),
    ("SELECT /*!50000 SLEEP(1) */ 1", "executable comments"),
    ("SELECT 1 /*!, LOAD_FILE('/etc/passwd') */", "executable comments"),
    ("SELECT /*M! SLEEP(1), */ 1", "executable comments"),
    ("SELECT /*+ MAX_EXECUTION_TIME(0) */ Name FROM singer", "hints"),
    ("SELECT 1 --LOAD_FILE('/etc/passwd')", "load_file"),
    ("SET STATEMENT max_statement_time=0 FOR SELECT 1", "Command"),
    ("SET @x = 1", "Set"),
    ("SET SESSION max_statement_time = 0", "Set"),
    ("LOCK TABLES singer READ", "Command"),
    ("CALL p()", "Command"),
    ("PREPARE s FROM 'DELETE FROM singer'", "Command"),
    ("EXECUTE s", "Command"),
    ("KILL 1", "Kill"),
    ("SELECT * FROM singer LOCK IN SHARE MODE", "Lock"),
    ("SHOW GRANTS", "Show"),
]


@pytest.mark.parametrize(("sql", "reason"), MYSQL_DENIED)
def test_mysql_gate_denies_what_mysql_adds(sql: str, reason: str) -> None:
    with pytest.raises(UnsafeSQL, match=reason):
        check_sql(sql, dialect="mysql")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM singer INTO OUTFILE '/tmp/x'",
        "SELECT * INTO OUTFILE '/tmp/x' FROM singer",
        "SELECT Name FROM singer INTO DUMPFILE '/tmp/y'",
        "HANDLER singer OPEN",
        "DO SLEEP(1)",
        "LOAD DATA INFILE '/etc/passwd' INTO TABLE singer",
    ],
)
def test_mysql_statements_sqlglot_cannot_parse_are_rejected(sql: str) -> None:
    # sqlglot does not parse these at all; rejected as invalid, never run.
    with pytest.raises(SQLRejected):
        check_sql(sql, dialect="mysql")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT Name FROM singer WHERE Age > 30 ORDER BY Name LIMIT 2",
        "SELECT count(*) FROM singer AS s JOIN singer_in_concert AS c "
        "ON s.Singer_ID = c.Singer_ID",
        "SELECT `Name` FROM `singer` -- a comment",
        "SELECT Name FROM singer /* a plain comment */",
        "SELECT '/*!50000 not a comment */' FROM singer",
        "SELECT GROUP_CONCAT(Name) FROM singer",
        "SELECT Name FROM singer WHERE Name LIKE 'lock%'",
        "SELECT count(*) FROM sys_table",
        "SELECT * FROM singer AS information_schema",
    ],
)
def test_mysql_gate_passes_plain_queries(sql: str) -> None:
    assert check_sql(sql, dialect="mysql")


def test_mysql_gate_accepts_both_dialect_names() -> None:
    assert check_sql("SELECT 1", dialect="mariadb") == "SELECT 1"
    with pytest.raises(UnsafeSQL):
        check_sql("SELECT SLEEP(1)", dialect="mariadb")


def test_every_runnable_golden_query_passes_the_mysql_gate() -> None:
    present = {p.name for p in (DATA / "spider" / "database").iterdir()}
    gold = read_gold(DATA / "spider" / "dev_gold.sql")
    refused = []
    for line in gold:
        if line.db_id not in present:
            continue
        try:
            check_sql(line.query, dialect="mysql")
        except SQLRejected as exc:
            refused.append((line.query, exc.reason))
    assert refused == []
