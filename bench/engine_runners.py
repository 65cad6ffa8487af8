"""Read-only runners for the engines report (bench/engines.py).

SQLite, PostgreSQL and MariaDB run through the project's sandboxes. DuckDB has
none on this branch yet; until it lands, a stand-in serves the report only:
every query passes the SQL gate first, and the file is opened read-only with a
deadline (`interrupt`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

import duckdb
import sqlglot
from sqlglot import exp

from targets.sandbox import SandboxError
from targets.sqlgate import check_sql

TIMEOUT_S = 5.0
MAX_ROWS = 10_000
_WRITES = (exp.DML, exp.DDL, exp.Into, exp.Lock, exp.Command, exp.Set, exp.Pragma)


def _gate(sql: str, dialect: str) -> str:
    """The project's SQL gate, or, for a dialect it does not know yet, its core."""
    try:
        return check_sql(sql, dialect=dialect)
    except ValueError as exc:
        if "unsupported dialect" not in str(exc):
            raise
    statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise SandboxError("exactly one query allowed")
    if any(True for _ in statements[0].find_all(*_WRITES)):
        raise SandboxError("only reads are allowed")
    return sql.strip().rstrip(";")


class Runner(Protocol):
    """Runs one read-only query; raises an Exception carrying the engine's text."""

    def rows(self, sql: str) -> list[tuple[Any, ...]]: ...

    def close(self) -> None: ...


class SandboxRunner:
    """A project sandbox (SQLite, PostgreSQL) behind the SQL gate."""

    def __init__(self, sandbox: Any, dialect: str) -> None:
        self.sandbox, self.dialect = sandbox, dialect

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        result = self.sandbox.run(check_sql(sql, dialect=self.dialect))
        return [tuple(row) for row in result.rows]

    def close(self) -> None:
        self.sandbox.close()


class DuckdbRunner:
    """A DuckDB file opened read-only; a timer interrupts a query past its deadline."""

    def __init__(self, path: Path) -> None:
        self.conn = duckdb.connect(str(path), read_only=True)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        checked = _gate(sql, "duckdb")
        timer = threading.Timer(TIMEOUT_S, self.conn.interrupt)
        timer.start()
        try:
            return [tuple(r) for r in self.conn.execute(checked).fetchmany(MAX_ROWS)]
        except duckdb.Error as exc:
            raise SandboxError(str(exc)) from None
        finally:
            timer.cancel()

    def close(self) -> None:
        self.conn.close()
