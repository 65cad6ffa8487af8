"""DuckDB targets: the sandbox holds alone, the gate holds alone, both hold together."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from rest_framework.test import APIClient

from targets.exceptions import GoldUnrunnable
from targets.execution import run_on_target, verify_gold
from targets.models import TargetDatabase
from targets.sandbox import (
    DuckDBSandbox,
    QueryFailed,
    QueryRefused,
    QueryTimeout,
    ResultTooLarge,
    SandboxError,
    SandboxMisconfigured,
    close_all,
    sandbox_for,
)
from targets.schema import capture_schema, remote_location_problem
from targets.services import register_target_database
from targets.sqlgate import SQLRejected, UnsafeSQL, check_sql
from tests.targets.adversarial import CORPUS, Attack
from tests.targets.test_limits import MEMORY_BOUND_MB, _peak_rss

DATA = Path(__file__).resolve().parents[2] / "data"
SOURCE_DB = DATA / "spider" / "database" / "concert_singer" / "concert_singer.sqlite"
DEADLINE_S = 1.0
SLACK_S = 0.5
# The interrupt lands between vectors: one concatenation of a string of hundreds
# of MB (the doubling recursive CTE) runs to its end first. Measured under load
# on 2 shared cores: 1.25-1.56 s for a 1 s deadline.
DUCKDB_SLACK_S = 1.0
DUCKDB_ATTACKS = [a for a in CORPUS if a.applies_to("duckdb")]


def _duck_type(declared: str) -> str:
    kind = declared.upper()
    if "INT" in kind:
        return "BIGINT"
    if any(t in kind for t in ("REAL", "FLOA", "DOUB", "NUM", "DEC")):
        return "DOUBLE"
    return "VARCHAR"


def build_duckdb_from_sqlite(source: Path, target: Path) -> None:
    """Copy every table of a SQLite file into a new DuckDB file (types simplified)."""
    with sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True) as lite:
        tables = [
            r[0]
            for r in lite.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        duck = duckdb.connect(str(target))
        try:
            for table in tables:
                columns = lite.execute(
                    "SELECT name, type FROM pragma_table_info(?)", (table,)
                ).fetchall()
                spec = ", ".join(f'"{n}" {_duck_type(t)}' for n, t in columns)
                duck.execute(f'CREATE TABLE "{table}" ({spec})')
                rows = lite.execute(f'SELECT * FROM "{table}"').fetchall()  # noqa: S608
                if rows:
                    marks = ", ".join("?" * len(columns))
                    duck.executemany(
                        f'INSERT INTO "{table}" VALUES ({marks})',  # noqa: S608
                        rows,
                    )
        finally:
            duck.close()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def duck_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("duckdb") / "concert_singer.duckdb"
    build_duckdb_from_sqlite(SOURCE_DB, target)
    return target


@pytest.fixture(scope="module")
def duck_sandbox(duck_file: Path) -> Iterator[DuckDBSandbox]:
    sandbox = DuckDBSandbox(duck_file, timeout_s=DEADLINE_S)
    yield sandbox
    sandbox.close()


# --- the sandbox alone ---------------------------------------------------------


def test_fixture_holds_the_same_rows_as_sqlite(
    duck_sandbox: DuckDBSandbox, duck_file: Path
) -> None:
    sql = "SELECT Name, Age FROM singer ORDER BY Singer_ID"
    with sqlite3.connect(f"{SOURCE_DB.as_uri()}?mode=ro", uri=True) as lite:
        expected = lite.execute(sql).fetchall()
    result = duck_sandbox.run(sql)
    assert result.rows == expected
    assert result.columns == ("Name", "Age")
    assert not result.truncated


@pytest.mark.parametrize(
    "attack", DUCKDB_ATTACKS, ids=lambda a: f"{a.kind}:{a.sql[:40]}"
)
def test_duckdb_sandbox_alone_stops_adversarial_sql(
    attack: Attack, duck_file: Path, duck_sandbox: DuckDBSandbox
) -> None:
    before = _sha256(duck_file)
    files_before = sorted(os.listdir(duck_file.parent))
    started = time.monotonic()
    with pytest.raises(SandboxError):
        duck_sandbox.run(attack.sql)
    assert time.monotonic() - started < DEADLINE_S + DUCKDB_SLACK_S
    assert _sha256(duck_file) == before
    assert sorted(os.listdir(duck_file.parent)) == files_before
    # The connection stays usable, unchanged and locked after each attack.
    assert duck_sandbox.run("SELECT count(*) FROM singer").rows == [(6,)]
    settings = duck_sandbox.run(
        "SELECT current_setting('enable_external_access'), "
        "current_setting('lock_configuration')"
    )
    assert settings.rows == [(False, True)]


def test_no_file_appears_outside_its_directory(
    duck_sandbox: DuckDBSandbox, tmp_path: Path
) -> None:
    outside = tmp_path / "copied.csv"
    for sql in (
        f"COPY singer TO '{outside}'",
        f"COPY (SELECT * FROM singer) TO '{outside}' (FORMAT csv)",  # noqa: S608
        f"EXPORT DATABASE '{tmp_path / 'exported'}'",
        f"ATTACH '{tmp_path / 'evil.duckdb'}' AS evil",
    ):
        with pytest.raises(QueryRefused):
            duck_sandbox.run(sql)
    assert os.listdir(tmp_path) == []


def test_runaway_query_stops_at_its_own_deadline(duck_sandbox: DuckDBSandbox) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        duck_sandbox.run(
            "SELECT count(*) FROM range(1000000000000) a, range(10) b", timeout_s=0.3
        )
    assert time.monotonic() - started < 0.3 + SLACK_S
    # The interrupt does not leak into the next statement.
    assert duck_sandbox.run("SELECT 1").rows == [(1,)]


def test_sort_past_the_memory_limit_fails_without_spilling(duck_file: Path) -> None:
    sandbox = DuckDBSandbox(duck_file, timeout_s=30)
    try:
        with pytest.raises(QueryFailed, match="Out of Memory"):
            sandbox.run("SELECT x FROM range(200000000) t(x) ORDER BY x DESC")
        assert sorted(os.listdir(duck_file.parent)) == [duck_file.name]
    finally:
        sandbox.close()


def test_row_cap_sets_truncated_flag(duck_sandbox: DuckDBSandbox) -> None:
    result = duck_sandbox.run(
        "SELECT a.Singer_ID, b.Singer_ID FROM singer a, singer b", max_rows=10
    )
    assert result.truncated
    assert len(result.rows) == 10
    full = duck_sandbox.run("SELECT a.Singer_ID, b.Singer_ID FROM singer a, singer b")
    assert not full.truncated
    assert len(full.rows) == 36
    assert all(isinstance(row, tuple) for row in full.rows)


def test_byte_cap_raises_result_too_large(duck_sandbox: DuckDBSandbox) -> None:
    with pytest.raises(ResultTooLarge):
        duck_sandbox.run(
            "SELECT repeat('x', 100000) FROM range(400)", max_bytes=1_000_000
        )
    # A nested value is counted with what it holds, not as one small list object.
    with pytest.raises(ResultTooLarge):
        duck_sandbox.run(
            "SELECT [list(x)] FROM range(300000) t(x)", max_bytes=1_000_000
        )
    assert duck_sandbox.run("SELECT [1, 2]").rows == [("[1, 2]",)]


def test_only_one_select_statement_runs(duck_sandbox: DuckDBSandbox) -> None:
    with pytest.raises(QueryRefused, match="one statement"):
        duck_sandbox.run("SELECT 1; SELECT 2")
    for other in (
        "PRAGMA version",
        "CALL pragma_version()",
        "SET threads = 8",
        "BEGIN",
    ):
        with pytest.raises(QueryRefused, match="only SELECT"):
            duck_sandbox.run(other)
    assert duck_sandbox.run("SELECT 1; -- trailing comment").rows == [(1,)]
    assert duck_sandbox.run("FROM singer SELECT count(*)").rows == [(6,)]


def test_missing_database_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(SandboxMisconfigured):
        DuckDBSandbox(tmp_path / "absent.duckdb")
    assert not (tmp_path / "absent.duckdb").exists()


def test_a_file_that_is_not_duckdb_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.duckdb"
    bogus.write_bytes(b"not a database" * 100)
    with pytest.raises(SandboxMisconfigured):
        DuckDBSandbox(bogus)
    assert bogus.read_bytes() == b"not a database" * 100


def test_sandbox_for_dispatches_and_caches_duckdb(duck_file: Path) -> None:
    first = sandbox_for("duckdb", duck_file)
    try:
        assert isinstance(first, DuckDBSandbox)
        assert sandbox_for("duckdb", duck_file) is first
        assert first.run("SELECT count(*) FROM concert").rows == [(6,)]
    finally:
        close_all()


# --- through run_on_target: the gate and the sandbox together ------------------


@pytest.fixture
def duck_target(duck_file: Path, db: None) -> Iterator[TargetDatabase]:
    """A DuckDB target registered like a remote caller would, under its own root."""
    with override_settings(
        TARGET_DATABASE_ROOT=duck_file.parent, SANDBOX_TIMEOUT_MS=1000
    ):
        yield register_target_database(
            name="concert_singer_duck",
            engine="duckdb",
            location=duck_file.name,
            acting_user=None,
            restrict_location=True,
        )
    close_all()


@pytest.mark.parametrize(
    "attack", DUCKDB_ATTACKS, ids=lambda a: f"{a.kind}:{a.sql[:40]}"
)
def test_run_on_duckdb_target_stops_adversarial_sql(
    attack: Attack, duck_target: TargetDatabase, duck_file: Path
) -> None:
    before = _sha256(duck_file)
    started = time.monotonic()
    with pytest.raises((SQLRejected, SandboxError)):
        run_on_target(duck_target, attack.sql)
    assert time.monotonic() - started < DEADLINE_S + DUCKDB_SLACK_S
    assert _sha256(duck_file) == before
    assert sorted(os.listdir(duck_file.parent)) == [duck_file.name]


def test_non_bomb_duckdb_attacks_are_refused_by_the_gate(
    duck_target: TargetDatabase,
) -> None:
    for attack in DUCKDB_ATTACKS:
        if not attack.bomb:
            with pytest.raises(SQLRejected):
                run_on_target(duck_target, attack.sql)


def test_no_files_appear_where_duckdb_attacks_point() -> None:
    for name in (
        "loopgate_duck.csv",
        "loopgate_duck.parquet",
        "loopgate_duck.duckdb",
        "loopgate_duck_export",
    ):
        assert not Path("/tmp", name).exists()  # noqa: S108 (paths named by attacks)


def test_registration_captures_the_duckdb_schema(
    duck_target: TargetDatabase, duck_file: Path
) -> None:
    with sqlite3.connect(f"{SOURCE_DB.as_uri()}?mode=ro", uri=True) as lite:
        tables = lite.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        ).fetchall()
        expected = {
            t: [c[1] for c in lite.execute("SELECT * FROM pragma_table_info(?)", (t,))]
            for (t,) in tables
        }
    assert duck_target.schema == expected
    assert duck_target.dialect == "duckdb"
    with override_settings(TARGET_DATABASE_ROOT=duck_file.parent):
        assert capture_schema(engine="duckdb", location=duck_file.name) == expected


def test_duckdb_locations_follow_the_sqlite_rules(duck_file: Path) -> None:
    with override_settings(TARGET_DATABASE_ROOT=duck_file.parent):
        assert remote_location_problem(engine="duckdb", location=duck_file.name) is None
        assert remote_location_problem(engine="duckdb", location=str(duck_file))
        assert remote_location_problem(engine="duckdb", location="../x.duckdb")


def test_run_on_duckdb_target_returns_rows(duck_target: TargetDatabase) -> None:
    sql = "SELECT Name FROM singer WHERE Age > 40 ORDER BY Name"
    with sqlite3.connect(f"{SOURCE_DB.as_uri()}?mode=ro", uri=True) as lite:
        expected = lite.execute(sql).fetchall()
    assert len(expected) >= 2
    assert run_on_target(duck_target, f"{sql};").rows == expected


def test_verify_gold_on_a_duckdb_target(duck_target: TargetDatabase) -> None:
    proof = verify_gold(duck_target, " SELECT count(*) FROM concert ")
    assert proof.result.rows == [(6,)]
    assert proof.covers(duck_target, "SELECT count(*) FROM concert")
    with pytest.raises(GoldUnrunnable, match="SQL gate"):
        verify_gold(duck_target, "SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(GoldUnrunnable, match="does not run"):
        verify_gold(duck_target, "SELECT nope FROM singer")
    with (
        override_settings(SANDBOX_MAX_ROWS=5),
        pytest.raises(GoldUnrunnable, match="more than 5 rows"),
    ):
        verify_gold(duck_target, "SELECT * FROM singer")


# --- the gate for dialect duckdb -----------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_ndjson_objects('/tmp/x')",
        "SELECT * FROM parquet_metadata('/tmp/x.parquet')",
        "SELECT * FROM sqlite_scan('/tmp/x.db', 'users')",
        "SELECT * FROM query_table('singer')",
        "SELECT * FROM duckdb_secrets()",
        "SELECT * FROM duckdb_settings()",
        "SELECT current_setting('enable_external_access')",
        "SELECT * FROM \"READ_CSV\"('/etc/passwd')",
        "SELECT * FROM main.'x.csv'",
        "SELECT * FROM 's3://bucket/key.parquet'",
        "SELECT * FROM singer WHERE Name IN (FROM glob('/etc/*') SELECT file)",
        "SELECT lpad(Name, 2000000000, ' ') FROM singer",
        "SELECT list_resize([1], 2000000)",
        "SELECT format('{:>{}}', 1, Age) FROM singer",
        "SELECT repeat(lpad('x', 1000, 'y'), 1000)",
    ],
)
def test_gate_refuses_what_duckdb_adds(sql: str) -> None:
    with pytest.raises(UnsafeSQL):
        check_sql(sql, dialect="duckdb")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT Name FROM singer WHERE Age > 30 ORDER BY Name",
        "FROM singer SELECT count(*)",
        "SELECT format('{} is {}', Name, Age) FROM singer",
        "SELECT lpad(Name, 20, ' ') FROM singer",
        "SELECT * FROM main.singer AS s JOIN concert c ON true LIMIT 3",
        "SELECT x FROM range(10) t(x)",
        "SELECT strftime(DATE '2020-01-01', '%Y')",
    ],
)
def test_gate_still_accepts_ordinary_duckdb_queries(
    sql: str, duck_sandbox: DuckDBSandbox
) -> None:
    checked = check_sql(sql, dialect="duckdb")
    duck_sandbox.run(checked)


def test_gate_denials_for_duckdb_do_not_leak_into_other_dialects() -> None:
    # read_csv is just an unknown function name to SQLite: the engine refuses it.
    assert check_sql("SELECT read_text FROM t", dialect="sqlite")
    assert check_sql("SELECT * FROM t WHERE x = 'a.b'", dialect="sqlite")


def test_duckdb_bombs_stay_within_the_memory_limit(duck_file: Path) -> None:
    figures = _peak_rss(
        """
        import sys
        from targets.sandbox import DuckDBSandbox, SandboxError
        sandbox = DuckDBSandbox(sys.argv[1], timeout_s=3, memory_limit="128MB")
        sandbox.run("SELECT count(*) FROM singer")
        before = peak_mb()
        verdicts = []
        for sql in sys.argv[2:]:
            try:
                sandbox.run(sql)
                verdicts.append("ran")
            except SandboxError as exc:
                verdicts.append(type(exc).__name__)
        print(json.dumps({"before": before, "after": peak_mb(), "verdicts": verdicts}))
        """,
        str(duck_file),
        "SELECT x FROM range(200000000) t(x) ORDER BY x DESC",
        "SELECT count(DISTINCT x) FROM range(200000000) t(x)",
        "SELECT len(list(x)) FROM range(200000000) t(x)",
        "WITH RECURSIVE t(s, n) AS (SELECT 'x', 0 UNION ALL "
        "SELECT s || s, n + 1 FROM t WHERE n < 40) SELECT max(length(s)) FROM t",
        "SELECT len(range(200000000))",
    )
    assert "ran" not in figures["verdicts"], figures
    assert figures["after"] - figures["before"] < MEMORY_BOUND_MB, figures


def test_api_registers_a_duckdb_target_and_names_bad_fields(
    duck_file: Path, ml_lead: User, client_as: Callable[[User], APIClient]
) -> None:
    client = client_as(ml_lead)
    url = "/api/v1/evaluation/target-databases/"
    with override_settings(TARGET_DATABASE_ROOT=duck_file.parent):
        for location in (str(duck_file), "../x.duckdb", "absent.duckdb"):
            bad = {"name": "duck", "engine": "duckdb", "location": location}
            response = client.post(url, bad, format="json")
            assert response.status_code == 400, location
            assert "location" in response.json()
        good = {"name": "duck", "engine": "duckdb", "location": duck_file.name}
        response = client.post(url, good, format="json")
    close_all()
    assert response.status_code == 201, response.json()
    assert response.json()["dialect"] == "duckdb"
    assert set(response.json()["schema"]) >= {"singer", "concert"}
    assert not (duck_file.parent / "absent.duckdb").exists()
