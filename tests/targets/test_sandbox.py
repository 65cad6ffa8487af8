"""Engine-level sandboxes hold on their own, without the gate."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from targets.sandbox import (
    PostgresSandbox,
    QueryRefused,
    QueryTimeout,
    SandboxError,
    SandboxMisconfigured,
    SqliteSandbox,
    sandbox_for,
)
from tests.helpers import with_dbname
from tests.targets.adversarial import CORPUS, Attack

DATA = Path(__file__).resolve().parents[2] / "data"
SOURCE_DB = DATA / "spider" / "database" / "concert_singer" / "concert_singer.sqlite"
DEADLINE_S = 1.0
SLACK_S = 0.5


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def scratch_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("sandbox")
    target = directory / "concert_singer.sqlite"
    shutil.copyfile(SOURCE_DB, target)
    return target


@pytest.fixture(scope="module")
def sqlite_sandbox(scratch_db: Path) -> Iterator[SqliteSandbox]:
    sandbox = SqliteSandbox(scratch_db, timeout_s=DEADLINE_S)
    yield sandbox
    sandbox.close()


@pytest.mark.parametrize(
    "attack",
    [a for a in CORPUS if a.applies_to("sqlite")],
    ids=lambda a: f"{a.kind}:{a.sql[:40]}",
)
def test_sqlite_sandbox_alone_stops_adversarial_sql(
    attack: Attack, scratch_db: Path, sqlite_sandbox: SqliteSandbox
) -> None:
    before = _sha256(scratch_db)
    files_before = sorted(os.listdir(scratch_db.parent))
    started = time.monotonic()
    with pytest.raises(SandboxError):
        sqlite_sandbox.run(attack.sql)
    elapsed = time.monotonic() - started
    assert elapsed < DEADLINE_S + SLACK_S
    assert _sha256(scratch_db) == before
    assert sorted(os.listdir(scratch_db.parent)) == files_before
    # The connection stays usable and unchanged after each attack.
    assert sqlite_sandbox.run("SELECT count(*) FROM singer").rows == [(6,)]


def test_no_files_appear_outside_the_db_directory() -> None:
    # Attacks name /tmp paths; none of them may exist after the corpus ran.
    for name in (
        "loopgate_evil.db",
        "loopgate_evil2.db",
        "loopgate_copy.db",
        "loopgate_evil.txt",
        "loopgate_out.csv",
        "pwned",
    ):
        assert not Path("/tmp", name).exists()  # noqa: S108 (paths named by attacks)


def test_runaway_query_stops_at_its_own_deadline(sqlite_sandbox: SqliteSandbox) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        sqlite_sandbox.run(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
            "SELECT count(*) FROM c",
            timeout_s=0.3,
        )
    assert time.monotonic() - started < 0.3 + SLACK_S


def test_row_cap_sets_truncated_flag(sqlite_sandbox: SqliteSandbox) -> None:
    result = sqlite_sandbox.run(
        "SELECT a.Singer_ID, b.Singer_ID FROM singer a, singer b", max_rows=10
    )
    assert result.truncated
    assert len(result.rows) == 10
    full = sqlite_sandbox.run("SELECT a.Singer_ID, b.Singer_ID FROM singer a, singer b")
    assert not full.truncated
    assert len(full.rows) == 36
    assert full.columns == ("Singer_ID", "Singer_ID")
    assert all(isinstance(row, tuple) for row in full.rows)


def test_multi_statement_refused_even_with_harmless_second(
    sqlite_sandbox: SqliteSandbox,
) -> None:
    with pytest.raises(QueryRefused):
        sqlite_sandbox.run("SELECT 1; SELECT 2")
    assert sqlite_sandbox.run("SELECT 1; -- trailing comment").rows == [(1,)]


def test_bounded_printf_still_formats(sqlite_sandbox: SqliteSandbox) -> None:
    rows = sqlite_sandbox.run("SELECT printf('%d-%s-%.2f', 3, 'a', 2.5)").rows
    assert rows == [("3-a-2.50",)]


def test_sandbox_for_reuses_connection_per_path(scratch_db: Path) -> None:
    first = sandbox_for("sqlite", scratch_db)
    assert sandbox_for("sqlite", scratch_db) is first
    with pytest.raises(ValueError, match="engine"):
        sandbox_for("mysql", scratch_db)


def test_missing_database_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(SandboxMisconfigured):
        SqliteSandbox(tmp_path / "absent.sqlite")
    assert not (tmp_path / "absent.sqlite").exists()


# --- PostgreSQL ---------------------------------------------------------------


def _rows(admin: str, readonly_dsn: str) -> list[tuple[object, ...]]:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    dbname = conninfo_to_dict(readonly_dsn)["dbname"]
    with psycopg.connect(with_dbname(admin, str(dbname))) as conn:
        return conn.execute("SELECT id, name FROM t ORDER BY id").fetchall()


@pytest.mark.postgres
def test_postgres_sandbox_refuses_writes_escapes_and_runaways(
    pg_scratch: tuple[str, str],
) -> None:
    admin, readonly = pg_scratch
    before = _rows(admin, readonly)
    assert len(before) == 5
    sandbox = PostgresSandbox(readonly, timeout_s=DEADLINE_S)
    try:
        assert sandbox.run("SELECT name FROM t WHERE id = 2").rows == [("n2",)]
        attacks = [
            "DELETE FROM t",
            "UPDATE t SET name = 'x'",
            "INSERT INTO t VALUES (9, 'x')",
            "DROP TABLE t",
            "TRUNCATE t",
            "CREATE TABLE evil (x int)",
            "CREATE TEMP TABLE evil AS SELECT * FROM t",
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            "COMMIT; SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; "
            "COMMIT; DELETE FROM t",
            "SELECT 1; DELETE FROM t",
            "SELECT 1; SELECT 2",
            "SET statement_timeout = 0",
        ]
        corpus = [
            a.sql
            for a in CORPUS
            if not a.bomb and a.kind != "server_settings" and a.applies_to("postgresql")
        ]
        for attack in corpus + attacks:
            with pytest.raises(SandboxError):
                sandbox.run(attack)
        # A setting changed by a query is rolled back and re-applied next time.
        sandbox.run("SELECT set_config('statement_timeout', '0', false)")
        assert sandbox.run("SELECT 1;").rows == [(1,)]
        for runaway in (
            "SELECT pg_sleep(30)",
            "SELECT count(*) FROM generate_series(1, "
            "1000000) a, generate_series(1, 1000000) b",
        ):
            started = time.monotonic()
            with pytest.raises(QueryTimeout):
                sandbox.run(runaway)
            assert time.monotonic() - started < DEADLINE_S + SLACK_S
        capped = sandbox.run("SELECT g FROM generate_series(1, 50) g", max_rows=7)
        assert capped.truncated
        assert len(capped.rows) == 7
        # The timeout applies per statement: a setting leak would let this run 30 s.
        started = time.monotonic()
        with pytest.raises(QueryTimeout):
            sandbox.run("SELECT pg_sleep(30)")
        assert time.monotonic() - started < DEADLINE_S + SLACK_S
    finally:
        sandbox.close()
    assert _rows(admin, readonly) == before


@pytest.mark.postgres
def test_postgres_sandbox_refuses_a_role_that_can_write(
    pg_scratch: tuple[str, str],
) -> None:
    admin, _ = pg_scratch
    sandbox = PostgresSandbox(admin)
    with pytest.raises(SandboxMisconfigured):
        sandbox.run("SELECT 1")
