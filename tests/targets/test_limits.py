"""Untrusted SQL is bounded in memory and time on every engine, measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from targets.sandbox import (
    PostgresSandbox,
    QueryTimeout,
    ResultTooLarge,
    SqliteSandbox,
)
from targets.sandbox.base import Watchdog, fetch_within, row_size

ROOT = Path(__file__).resolve().parents[2]
PETS = ROOT / "data" / "spider" / "database" / "pets_1" / "pets_1.sqlite"
BLOB_CROSS_JOIN = "SELECT zeroblob(999999) FROM Student a, Student b LIMIT 400"
# The progress handler is not called inside the sorter: only an interrupt stops it.
RECURSIVE_SORT_SQLITE = (
    "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM r LIMIT 100000000) "
    "SELECT x FROM r ORDER BY x DESC"
)
RECURSIVE_SORT_POSTGRES = (
    "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM r "
    "WHERE x < 100000000) SELECT x FROM r ORDER BY x DESC"
)
SLACK_S = 0.5
MEMORY_BOUND_MB = 256


def _peak_rss(script: str, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run ``script`` with ``args`` in a fresh interpreter; return the JSON it prints.

    A fresh process is the only honest baseline: this test process's peak was
    set by whatever ran before.
    """
    prologue = textwrap.dedent(
        """
        import json, resource
        def peak_mb():
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        """
    )
    completed = subprocess.run(  # noqa: S603 (this interpreter, fixed scripts)
        [sys.executable, "-c", prologue + textwrap.dedent(script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_byte_cap_stops_fetching_early() -> None:
    fetched: list[int] = []

    def fetchmany(size: int) -> Sequence[tuple[bytes]]:
        fetched.append(size)
        return [(b"x" * 1000,)] * size

    with pytest.raises(ResultTooLarge, match="result too large"):
        fetch_within(fetchmany, max_rows=1_000_000, max_bytes=50_000)
    # About 50 rows of ~1 kB pass the cap: never a million.
    assert sum(fetched) < 100


def test_byte_cap_counts_what_the_rows_hold() -> None:
    rows = [(1, "a" * 100, b"b" * 200)] * 10

    def fetchmany(size: int) -> Sequence[tuple[Any, ...]]:
        taken = rows[:size]
        del rows[:size]
        return taken

    kept, truncated = fetch_within(fetchmany, max_rows=5, max_bytes=10**6)
    assert len(kept) == 5
    assert truncated
    assert row_size(kept[0]) > 300


def test_watchdog_calls_only_armed_interrupts() -> None:
    watchdog = Watchdog()
    fired: list[str] = []
    disarmed = watchdog.arm(time.monotonic() + 0.05, lambda: fired.append("late"))
    watchdog.disarm(disarmed)
    watchdog.arm(time.monotonic() + 0.05, lambda: fired.append("due"))
    time.sleep(0.3)
    assert fired == ["due"]


def test_sqlite_blob_cross_join_is_refused_as_too_large() -> None:
    sandbox = SqliteSandbox(PETS)
    try:
        with pytest.raises(ResultTooLarge, match="result too large"):
            sandbox.run(BLOB_CROSS_JOIN)
        # The connection is still usable afterwards.
        assert sandbox.run("SELECT count(*) FROM Student").rows == [(34,)]
    finally:
        sandbox.close()


def test_review_check_of_blob_cross_join_stays_within_memory_bound() -> None:
    figures = _peak_rss(
        """
        import sys
        import django
        django.setup()
        from feedback.result_digest import ExecutionFailed, execute_on_target
        from targets.models import TargetDatabase
        target = TargetDatabase(name="pets", engine="sqlite", location=sys.argv[1])
        execute_on_target(target=target, sql="SELECT count(*) FROM Student")
        before = peak_mb()
        try:
            execute_on_target(target=target, sql=sys.argv[2])
            verdict = "ran"
        except ExecutionFailed as exc:
            verdict = exc.message
        print(json.dumps({"before": before, "after": peak_mb(), "verdict": verdict}))
        """,
        str(PETS),
        BLOB_CROSS_JOIN,
        env={"DJANGO_SETTINGS_MODULE": "config.settings_test"},
    )
    assert "too large" in figures["verdict"]
    assert figures["after"] - figures["before"] < MEMORY_BOUND_MB, figures


def test_sqlite_sort_over_recursive_cte_stops_at_its_deadline() -> None:
    sandbox = SqliteSandbox(PETS, timeout_s=1.0)
    try:
        started = time.monotonic()
        with pytest.raises(QueryTimeout):
            sandbox.run(RECURSIVE_SORT_SQLITE)
        assert time.monotonic() - started < 1.0 + SLACK_S
        # The interrupt does not leak into the next statement.
        assert sandbox.run("SELECT count(*) FROM Student").rows == [(34,)]
    finally:
        sandbox.close()


@pytest.mark.postgres
def test_postgres_sort_over_recursive_cte_stops_at_its_deadline(
    pg_scratch: tuple[str, str],
) -> None:
    _, readonly = pg_scratch
    sandbox = PostgresSandbox(readonly, timeout_s=1.0)
    try:
        started = time.monotonic()
        with pytest.raises(QueryTimeout):
            sandbox.run(RECURSIVE_SORT_POSTGRES)
        assert time.monotonic() - started < 1.0 + SLACK_S
        assert sandbox.run("SELECT count(*) FROM t").rows == [(5,)]
    finally:
        sandbox.close()


@pytest.mark.postgres
def test_postgres_large_result_stays_within_memory_bound(
    pg_scratch: tuple[str, str],
) -> None:
    _, readonly = pg_scratch
    figures = _peak_rss(
        """
        import sys
        from targets.sandbox import PostgresSandbox, ResultTooLarge
        sandbox = PostgresSandbox(sys.argv[1], timeout_s=30)
        sandbox.run("SELECT 1")
        before = peak_mb()
        try:
            sandbox.run("SELECT repeat('x', 999999) FROM generate_series(1, 400)")
            verdict = "ran"
        except ResultTooLarge as exc:
            verdict = str(exc)
        print(json.dumps({"before": before, "after": peak_mb(), "verdict": verdict}))
        """,
        readonly,
    )
    assert "result too large" in figures["verdict"]
    assert figures["after"] - figures["before"] < MEMORY_BOUND_MB, figures
