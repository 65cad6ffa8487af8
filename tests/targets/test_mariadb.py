"""MariaDB as a target engine: the sandbox alone, the gate in front, provisioning.

Tests marked ``mariadb`` need a server (MARIADB_ADMIN_URL, an account that may
create databases and users); each module run creates its own ``mariadb_*``
database, copied from Spider's concert_singer, and drops it afterwards.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, override_settings

from evaluation.scoring import results_equal
from targets.exceptions import GoldUnrunnable
from targets.execution import run_on_target, verify_gold
from targets.models import TargetDatabase
from targets.provisioning import ProvisioningError
from targets.provisioning_mariadb import provision_mariadb_select_only
from targets.sandbox import (
    MariaDBSandbox,
    QueryRefused,
    QueryTimeout,
    ResultTooLarge,
    SandboxError,
    SandboxMisconfigured,
    SqliteSandbox,
    sandbox_for,
)
from targets.sandbox.mariadb import connect, parse_mysql_dsn
from targets.services import register_target_database
from targets.sqlgate import SQLRejected
from tests.targets.adversarial import CORPUS, Attack
from tests.targets.test_limits import MEMORY_BOUND_MB, _peak_rss

SOURCE_DB = (
    Path(__file__).resolve().parents[2]
    / "data/spider/database/concert_singer/concert_singer.sqlite"
)
DEADLINE_S = 1.0
SLACK_S = 0.5
DSN_VAR = "LOOPGATE_TARGET_MARIADB_TEST"
TABLES = ("concert", "singer", "singer_in_concert", "stadium")
# Statements the sandbox alone may run: they read nothing beyond the account's
# own grants and leave nothing behind (files stay unread: LOAD_FILE needs FILE).
RUNS_HARMLESSLY = {
    "SELECT LOAD_FILE('/etc/passwd')",
    "SELECT 1 UNION SELECT LOAD_FILE('/etc/passwd')",
    "SELECT 1 /*!, LOAD_FILE('/etc/passwd') */",
    "SELECT 1 --LOAD_FILE('/etc/passwd')",
    "SELECT GET_LOCK('loopgate', 0)",
    "SELECT RELEASE_LOCK('loopgate')",
    "SELECT RELEASE_ALL_LOCKS()",
    "SELECT @x := 1",
    "SELECT Name, (@n := @n + 1) FROM singer",
    "SELECT @@datadir",
    "SET STATEMENT max_statement_time=0 FOR SELECT 1",
    "SHOW GRANTS",
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM `INFORMATION_SCHEMA`.`USER_PRIVILEGES`",
    "SELECT /*+ MAX_EXECUTION_TIME(0) */ 1",
    # Shared locks in a read-only transaction, released by its ROLLBACK.
    "SELECT * FROM singer LOCK IN SHARE MODE",
}
MARIADB_CORPUS = [a for a in CORPUS if a.applies_to("mariadb")]
pytestmark = pytest.mark.mariadb


@dataclass(frozen=True)
class Scratch:
    """A scratch database, its admin connection URL and the SELECT-only DSN."""

    admin_url: str
    database: str
    role: str
    password: str
    dsn: str

    def admin(self) -> Any:
        return connect(parse_mysql_dsn(f"{self.admin_url}/{self.database}"))

    def scalar(self, sql: str, *args: object) -> Any:
        conn = self.admin()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args or None)
                row = cur.fetchone()
                return row[0] if row else None
        finally:
            conn.close()


def _column_type(declared: str) -> str:
    declared = declared.lower()
    if "int" in declared:
        return "BIGINT"
    if any(t in declared for t in ("real", "float", "double", "num")):
        return "DOUBLE"
    return "TEXT"


def _copy_from_sqlite(conn: Any, source: Path) -> None:
    with sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True) as lite:
        for table in TABLES:
            columns = lite.execute(f'PRAGMA table_info("{table}")').fetchall()
            ddl = ", ".join(f"`{c[1]}` {_column_type(c[2])}" for c in columns)
            rows = lite.execute(f'SELECT * FROM "{table}"').fetchall()  # noqa: S608
            marks = ", ".join(["%s"] * len(columns))
            with conn.cursor() as cur:
                cur.execute(f"CREATE TABLE `{table}` ({ddl})")
                insert = f"INSERT INTO `{table}` VALUES ({marks})"  # noqa: S608
                cur.executemany(insert, rows)
    conn.commit()


@pytest.fixture(scope="module")
def scratch() -> Iterator[Scratch]:
    admin_url = os.environ["MARIADB_ADMIN_URL"].rstrip("/")
    suffix = uuid.uuid4().hex[:8]
    database, role = f"mariadb_cs_{suffix}", f"mariadb_ro_{suffix}"
    password = uuid.uuid4().hex
    server = connect(parse_mysql_dsn(f"{admin_url}/mysql"))
    try:
        with server.cursor() as cur:
            cur.execute(
                f"CREATE DATABASE `{database}` "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
        conn = connect(parse_mysql_dsn(f"{admin_url}/{database}"))
        try:
            _copy_from_sqlite(conn, SOURCE_DB)
        finally:
            conn.close()
        provisioned = provision_mariadb_select_only(
            admin_dsn=f"{admin_url}/{database}", role=role, password=password
        )
        yield Scratch(admin_url, database, role, password, provisioned.dsn)
    finally:
        with server.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
            cur.execute("DROP USER IF EXISTS %s@'%%'", (role,))
        server.close()


@pytest.fixture(scope="module")
def sandbox(scratch: Scratch) -> Iterator[MariaDBSandbox]:
    box = MariaDBSandbox(scratch.dsn, timeout_s=DEADLINE_S)
    yield box
    box.close()


def _checksums(scratch: Scratch) -> list[Any]:
    conn = scratch.admin()
    try:
        with conn.cursor() as cur:
            cur.execute("CHECKSUM TABLE " + ", ".join(TABLES))
            return list(cur.fetchall())
    finally:
        conn.close()


def _running_queries(scratch: Scratch) -> int:
    """Statements the role still runs, once a stopped one had time to go."""
    count = 0
    for _ in range(50):
        count = int(
            scratch.scalar(
                "SELECT count(*) FROM information_schema.processlist "
                "WHERE user = %s AND command NOT IN ('Sleep', 'Killed')",
                scratch.role,
            )
        )
        if count == 0:
            break
        time.sleep(0.1)
    return count


@pytest.mark.parametrize(
    "attack", MARIADB_CORPUS, ids=lambda a: f"{a.kind}:{a.sql[:40]}"
)
def test_mariadb_sandbox_alone_stops_adversarial_sql(
    attack: Attack, scratch: Scratch, sandbox: MariaDBSandbox
) -> None:
    before = _checksums(scratch)
    started = time.monotonic()
    try:
        result = sandbox.run(attack.sql)
    except SandboxError:
        pass
    else:
        assert attack.bomb or attack.sql in RUNS_HARMLESSLY, result
        assert "root:" not in repr(result.rows)
    assert time.monotonic() - started < DEADLINE_S + SLACK_S
    assert _checksums(scratch) == before
    # Nothing the attack set survives into the next statement...
    after = sandbox.run("SELECT @x, @n, @@max_statement_time, count(*) FROM singer")
    assert after.rows == [(None, None, DEADLINE_S, 6)]
    # ...nor on the server: no named lock held, no statement still running.
    assert scratch.scalar("SELECT IS_FREE_LOCK('loopgate')") == 1
    assert _running_queries(scratch) == 0


def test_no_files_written_by_the_corpus() -> None:
    for name in ("lg_out.txt", "lg_out2.txt", "lg_dump"):
        assert not Path("/tmp", name).exists()  # noqa: S108 (paths named by attacks)


@pytest.mark.django_db
def test_run_on_target_stops_adversarial_sql(
    scratch: Scratch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DSN_VAR, scratch.dsn)
    target = register_target_database(
        name="cs-mariadb", engine="mariadb", location=DSN_VAR, acting_user=None
    )
    before = _checksums(scratch)
    with override_settings(SANDBOX_TIMEOUT_MS=int(DEADLINE_S * 1000)):
        assert run_on_target(target, "SELECT count(*) FROM singer").rows == [(6,)]
        for attack in MARIADB_CORPUS:
            started = time.monotonic()
            if attack.bomb:
                with contextlib.suppress(SQLRejected, SandboxError):
                    run_on_target(target, attack.sql)
            else:
                with pytest.raises(SQLRejected):
                    run_on_target(target, attack.sql)
            assert time.monotonic() - started < DEADLINE_S + SLACK_S, attack
    assert _checksums(scratch) == before


@pytest.mark.parametrize(
    "runaway",
    [
        "SET STATEMENT max_statement_time=0 FOR SELECT SLEEP(30)",
        "SELECT count(*) FROM singer a, singer b, singer c, singer d, singer e, "
        "singer f, singer g, singer h, singer i, singer j, singer k",
        # MariaDB stops recursion after 1000 rounds unless told otherwise.
        "SET STATEMENT max_recursive_iterations = 1000000000 FOR "
        "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r "
        "WHERE x < 100000000) SELECT x FROM r ORDER BY x DESC",
    ],
    ids=["sleep-deadline-lifted", "cross-join", "recursive-sort"],
)
def test_runaway_stops_at_its_deadline_and_leaves_no_server_thread(
    runaway: str, scratch: Scratch
) -> None:
    box = MariaDBSandbox(scratch.dsn, timeout_s=DEADLINE_S)
    try:
        started = time.monotonic()
        with pytest.raises(QueryTimeout):
            box.run(runaway)
        assert time.monotonic() - started < DEADLINE_S + SLACK_S
        assert box.run("SELECT count(*) FROM singer").rows == [(6,)]
        assert _running_queries(scratch) == 0
    finally:
        box.close()


def test_row_cap_truncates_and_the_sandbox_stays_usable(
    sandbox: MariaDBSandbox,
) -> None:
    sql = "SELECT a.Singer_ID, b.Singer_ID FROM singer a, singer b"
    capped = sandbox.run(sql, max_rows=10)
    assert capped.truncated
    assert len(capped.rows) == 10
    full = sandbox.run(sql)
    assert not full.truncated
    assert len(full.rows) == 36
    assert full.columns == ("Singer_ID", "Singer_ID")


def test_byte_cap_refuses_a_large_result(sandbox: MariaDBSandbox) -> None:
    with pytest.raises(ResultTooLarge, match="result too large"):
        sandbox.run(
            "SELECT REPEAT('x', 999999) FROM singer a, singer b", max_bytes=4_000_000
        )
    assert sandbox.run("SELECT count(*) FROM singer").rows == [(6,)]


def test_large_result_stays_within_memory_bound(scratch: Scratch) -> None:
    figures = _peak_rss(
        """
        import sys
        from targets.sandbox import MariaDBSandbox, ResultTooLarge
        sandbox = MariaDBSandbox(sys.argv[1], timeout_s=30)
        sandbox.run("SELECT 1")
        before = peak_mb()
        try:
            sandbox.run(
                "SELECT REPEAT('x', 999999) FROM singer a, singer b, singer c,"
                " singer d LIMIT 400"
            )
            verdict = "ran"
        except ResultTooLarge as exc:
            verdict = str(exc)
        print(json.dumps({"before": before, "after": peak_mb(), "verdict": verdict}))
        """,
        scratch.dsn,
    )
    assert "result too large" in figures["verdict"]
    assert figures["after"] - figures["before"] < MEMORY_BOUND_MB, figures


def test_one_wide_row_is_refused_before_it_is_read(scratch: Scratch) -> None:
    # Every value is under max_allowed_packet, the row is 45 MB: PyMySQL would
    # read it whole before the byte cap could count it.
    figures = _peak_rss(
        """
        import sys
        from targets.sandbox import MariaDBSandbox, ResultTooLarge
        sandbox = MariaDBSandbox(sys.argv[1], timeout_s=30, max_bytes=1_000_000)
        sandbox.run("SELECT 1")
        before = peak_mb()
        try:
            sandbox.run(
                "SELECT REPEAT('x', 15000000), REPEAT('y', 15000000),"
                " REPEAT('z', 15000000)"
            )
            verdict = "ran"
        except ResultTooLarge as exc:
            verdict = str(exc)
        print(json.dumps({"before": before, "after": peak_mb(), "verdict": verdict}))
        """,
        scratch.dsn,
    )
    assert "result too large" in figures["verdict"]
    assert figures["after"] - figures["before"] < 30, figures


def test_a_connection_the_server_dropped_while_idle_is_replaced(
    scratch: Scratch, sandbox: MariaDBSandbox
) -> None:
    assert sandbox.run("SELECT count(*) FROM singer").rows == [(6,)]
    conn = scratch.admin()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT id FROM information_schema.processlist WHERE user = %s",
                (scratch.role,),
            )
            for (thread_id,) in cur.fetchall():
                cur.execute("KILL CONNECTION %s", (thread_id,))
    finally:
        conn.close()
    assert sandbox.run("SELECT count(*) FROM singer").rows == [(6,)]


def test_text_that_cannot_be_sent_is_refused(sandbox: MariaDBSandbox) -> None:
    with pytest.raises(QueryRefused, match="not valid text"):
        sandbox.run("SELECT '\ud800'")
    assert sandbox.run("SELECT count(*) FROM singer").rows == [(6,)]


def test_results_compare_equal_with_sqlite(sandbox: MariaDBSandbox) -> None:
    lite = SqliteSandbox(SOURCE_DB)
    queries = [
        "SELECT count(*) FROM singer",
        "SELECT Name, Country, Age FROM singer ORDER BY Age DESC",
        "SELECT avg(Age), min(Age), max(Age) FROM singer WHERE Country = 'France'",
        "SELECT T2.Name, count(*) FROM concert AS T1 JOIN stadium AS T2 "
        "ON T1.Stadium_ID = T2.Stadium_ID GROUP BY T1.Stadium_ID, T2.Name",
        "SELECT Song_release_year FROM singer ORDER BY Age LIMIT 1",
        "SELECT sum(Capacity) / 3.0 FROM stadium",
    ]
    try:
        for sql in queries:
            gold = lite.run(sql).rows
            assert gold, sql
            assert results_equal(
                gold,
                sandbox.run(sql).rows,
                mode="spider",
                order_matters="order by" in sql.lower(),
            ), sql
    finally:
        lite.close()


# --- the account check and provisioning ------------------------------------------


def _make_account(scratch: Scratch, name: str, *grants: str) -> str:
    conn = scratch.admin()
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE USER %s@'%%' IDENTIFIED BY 'pw'", (name,))
            for grant in grants:
                cur.execute(grant.format(db=f"`{scratch.database}`"), (name,))
    finally:
        conn.close()
    host = parse_mysql_dsn(scratch.dsn)
    return f"mysql://{name}:pw@{host.host}:{host.port}/{scratch.database}"


def _drop_account(scratch: Scratch, name: str) -> None:
    conn = scratch.admin()
    try:
        with conn.cursor() as cur:
            cur.execute("DROP USER IF EXISTS %s@'%%'", (name,))
    finally:
        conn.close()


@pytest.mark.parametrize(
    "grants",
    [
        ("GRANT SELECT, INSERT ON {db}.* TO %s@'%%'",),
        ("GRANT SELECT ON {db}.* TO %s@'%%'", "GRANT UPDATE ON {db}.singer TO %s@'%%'"),
        ("GRANT SELECT ON {db}.* TO %s@'%%'", "GRANT FILE ON *.* TO %s@'%%'"),
        ("GRANT SELECT ON *.* TO %s@'%%'",),
        ("GRANT SELECT ON {db}.* TO %s@'%%' WITH GRANT OPTION",),
        ("GRANT SELECT, CREATE TEMPORARY TABLES ON {db}.* TO %s@'%%'",),
    ],
    ids=["insert", "table-update", "file", "global-select", "grant-option", "temp"],
)
def test_an_account_that_may_do_more_than_read_is_refused(
    grants: tuple[str, ...], scratch: Scratch
) -> None:
    name = f"mariadb_w_{uuid.uuid4().hex[:8]}"
    dsn = _make_account(scratch, name, *grants)
    try:
        with pytest.raises(SandboxMisconfigured, match="not a SELECT-only account"):
            MariaDBSandbox(dsn).run("SELECT 1")
    finally:
        _drop_account(scratch, name)


def test_provisioning_twice_is_idempotent_and_tightens(scratch: Scratch) -> None:
    admin_dsn = f"{scratch.admin_url}/{scratch.database}"
    again = provision_mariadb_select_only(
        admin_dsn=admin_dsn, role=scratch.role, password=scratch.password
    )
    assert not again.created
    assert again.dsn == scratch.dsn
    assert all("***" in s for s in again.statements if "IDENTIFIED" in s)
    assert not any(scratch.password in s for s in again.statements)
    conn = scratch.admin()
    try:
        with conn.cursor() as cur:
            cur.execute(
                f"GRANT INSERT ON `{scratch.database}`.* TO %s@'%%'", (scratch.role,)
            )
    finally:
        conn.close()
    with pytest.raises(SandboxMisconfigured):
        MariaDBSandbox(scratch.dsn).run("SELECT 1")
    provision_mariadb_select_only(
        admin_dsn=admin_dsn, role=scratch.role, password=scratch.password
    )
    assert MariaDBSandbox(scratch.dsn).run("SELECT count(*) FROM singer").rows == [(6,)]


def test_provisioning_refuses_bad_names_and_no_password(scratch: Scratch) -> None:
    admin_dsn = f"{scratch.admin_url}/{scratch.database}"
    for role in ("Robert'); DROP", "x" * 40, ""):
        with pytest.raises(ProvisioningError, match="Role names"):
            provision_mariadb_select_only(admin_dsn=admin_dsn, role=role, password="p")
    with pytest.raises(ProvisioningError, match="password"):
        provision_mariadb_select_only(admin_dsn=admin_dsn, role="r", password="")


def test_provision_command_with_engine_mariadb(
    scratch: Scratch,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MARIADB_TEST_ADMIN", f"{scratch.admin_url}/{scratch.database}")
    monkeypatch.setenv("MARIADB_TEST_PASSWORD", scratch.password)
    call_command(
        "provision_target_role",
        engine="mariadb",
        role_option=scratch.role,
        admin_dsn_env="MARIADB_TEST_ADMIN",
        password_env="MARIADB_TEST_PASSWORD",
    )
    assert capsys.readouterr().out.strip() == scratch.dsn


# --- the target record ----------------------------------------------------------


@pytest.mark.django_db
def test_verify_gold_on_a_mariadb_target(
    scratch: Scratch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DSN_VAR, scratch.dsn)
    target = register_target_database(
        name="cs-mariadb", engine="mariadb", location=DSN_VAR, acting_user=None
    )
    assert sorted(target.schema) == sorted(TABLES)
    assert target.schema["singer"][:2] == ["Singer_ID", "Name"]
    proof = verify_gold(target, "SELECT count(*) FROM singer ")
    assert proof.result.rows == [(6,)]
    assert proof.covers(target, "SELECT count(*) FROM singer")
    with pytest.raises(GoldUnrunnable, match="Unknown column"):
        verify_gold(target, "SELECT nope FROM singer")
    with pytest.raises(GoldUnrunnable, match="SQL gate"):
        verify_gold(target, "SELECT SLEEP(1)")
    with (
        override_settings(SANDBOX_MAX_ROWS=5),
        pytest.raises(GoldUnrunnable, match="more than 5 rows"),
    ):
        verify_gold(target, "SELECT Name FROM singer")


@pytest.mark.django_db
def test_api_registers_a_mariadb_target(
    scratch: Scratch,
    ml_lead: User,
    client_as: Callable[[User], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(DSN_VAR, scratch.dsn)
    client = client_as(ml_lead)
    url = "/api/v1/evaluation/target-databases/"
    payload = {"name": "cs-maria", "engine": "mariadb", "location": DSN_VAR}
    response = client.post(url, payload, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["dialect"] == "mysql"
    assert sorted(response.json()["schema"]) == sorted(TABLES)
    unset = client.post(
        url,
        {**payload, "name": "cs-unset", "location": "LOOPGATE_TARGET_UNSET_X"},
        format="json",
    )
    assert unset.status_code == 400
    assert "location" in str(unset.json()), unset.json()


@pytest.mark.django_db
def test_admin_registers_a_mariadb_target_and_refuses_a_writer(
    scratch: Scratch, ml_lead: User, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"mariadb_w_{uuid.uuid4().hex[:8]}"
    writer = _make_account(scratch, name, "GRANT SELECT, INSERT ON {db}.* TO %s@'%%'")
    monkeypatch.setenv(DSN_VAR, scratch.dsn)
    monkeypatch.setenv("LOOPGATE_TARGET_MARIADB_WRITER", writer)
    client.force_login(ml_lead)
    url = "/admin/targets/targetdatabase/add/"
    form = {"name": "cs-admin", "engine": "mariadb", "description": ""}
    try:
        for location, error in [
            ("DATABASE_URL", b"LOOPGATE_TARGET_"),
            ("LOOPGATE_TARGET_UNSET_Y", b"is not set"),
            ("LOOPGATE_TARGET_MARIADB_WRITER", b"not a SELECT-only account"),
        ]:
            page = client.post(url, {**form, "location": location})
            assert page.status_code == 200
            assert error in page.content
        assert not TargetDatabase.objects.exists()
        done = client.post(url, {**form, "location": DSN_VAR})
        assert done.status_code == 302, done.content
        assert sorted(TargetDatabase.objects.get().schema) == sorted(TABLES)
    finally:
        _drop_account(scratch, name)


def test_sandbox_for_caches_the_mariadb_sandbox(scratch: Scratch) -> None:
    first = sandbox_for("mariadb", scratch.dsn)
    assert isinstance(first, MariaDBSandbox)
    assert sandbox_for("mariadb", scratch.dsn) is first
