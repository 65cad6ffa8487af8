"""Read-only runners for the engines report (bench/engines.py).

Every engine runs through the project's own SQL gate and sandbox, as generated
SQL does in production.
"""

from __future__ import annotations

from typing import Any, Protocol

from targets.sandbox import Sandbox
from targets.sqlgate import check_sql


class Runner(Protocol):
    """Runs one read-only query; raises an Exception carrying the engine's text."""

    def rows(self, sql: str) -> list[tuple[Any, ...]]: ...

    def close(self) -> None: ...


class SandboxRunner:
    """A project sandbox behind the SQL gate."""

    def __init__(self, sandbox: Sandbox, dialect: str) -> None:
        self.sandbox, self.dialect = sandbox, dialect

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        result = self.sandbox.run(check_sql(sql, dialect=self.dialect))
        return [tuple(row) for row in result.rows]

    def close(self) -> None:
        self.sandbox.close()
