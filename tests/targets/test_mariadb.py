"""MariaDB as a target engine: the sandbox alone, the gate in front, provisioning.

Tests marked ``mariadb`` need a server (MARIADB_ADMIN_URL, an account that may
create databases and users); each module run creates its own ``mariadb_*``
database, copied from Spider's concert_singer, and drops it afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evaluation.scoring import results_equal
from targets.sandbox import (
    MariaDBSandbox,
    QueryRefused,
    QueryTimeout,
    ResultTooLarge,
    SandboxError,
    SqliteSandbox,
    sandbox_for,
)
from tests.targets.adversarial import CORPUS, Attack
from tests.targets.mariadb_scratch import (
    SOURCE_DB,
    Scratch,
    concert_singer_on_mariadb,
)
from tests.targets.test_limits import MEMORY_BOUND_MB, _peak_rss

DEADLINE_S = 1.0
SLACK_S = 0.5
DSN_VAR = "LOOPGATE_TARGET_MARIADB_TEST"
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


@pytest.fixture(scope="module")
def scratch() -> Iterator[Scratch]:
    with concert_singer_on_mariadb() as made:
        yield made


@pytest.fixture(scope="module")
def sandbox(scratch: Scratch) -> Iterator[MariaDBSandbox]:
    box = MariaDBSandbox(scratch.dsn, timeout_s=DEADLINE_S)
    yield box
    box.close()


@pytest.mark.parametrize(
    "attack", MARIADB_CORPUS, ids=lambda a: f"{a.kind}:{a.sql[:40]}"
)
def test_mariadb_sandbox_alone_stops_adversarial_sql(
    attack: Attack, scratch: Scratch, sandbox: MariaDBSandbox
) -> None:
    before = scratch.checksums()
    started = time.monotonic()
    try:
        result = sandbox.run(attack.sql)
    except SandboxError:
        pass
    else:
        assert attack.bomb or attack.sql in RUNS_HARMLESSLY, result
        assert "root:" not in repr(result.rows)
    assert time.monotonic() - started < DEADLINE_S + SLACK_S
    assert scratch.checksums() == before
    # Nothing the attack set survives into the next statement...
    after = sandbox.run("SELECT @x, @n, @@max_statement_time, count(*) FROM singer")
    assert after.rows == [(None, None, DEADLINE_S, 6)]
    # ...nor on the server: no named lock held, no statement still running.
    assert scratch.scalar("SELECT IS_FREE_LOCK('loopgate')") == 1
    assert scratch.running_queries() == 0


def test_no_files_written_by_the_corpus() -> None:
    for name in ("lg_out.txt", "lg_out2.txt", "lg_dump"):
        assert not Path("/tmp", name).exists()  # noqa: S108 (paths named by attacks)


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
        assert scratch.running_queries() == 0
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


def test_sandbox_for_caches_the_mariadb_sandbox(scratch: Scratch) -> None:
    first = sandbox_for("mariadb", scratch.dsn)
    assert isinstance(first, MariaDBSandbox)
    assert sandbox_for("mariadb", scratch.dsn) is first
