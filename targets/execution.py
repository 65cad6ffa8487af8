"""The one entry point that runs untrusted SQL on a target database.

Two independent layers, each holding when the other is bypassed: the static gate
(`targets.sqlgate`) and the engine sandbox (`targets.sandbox`).
"""

from pathlib import Path

from targets.models import TargetDatabase
from targets.sandbox import (
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    QueryResult,
    Sandbox,
    SandboxMisconfigured,
    sandbox_for,
)
from targets.schema import SchemaCaptureError, postgres_dsn, sqlite_path
from targets.sqlgate import check_sql


def sandbox_for_target(
    target: TargetDatabase,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> Sandbox:
    """The (per-thread cached) sandbox that runs queries on ``target``.

    Raises SandboxError subclasses when the engine cannot be opened safely, or
    a PostgreSQL target's DSN variable is unset.
    """
    try:
        if target.engine == "sqlite":
            location: str | Path = sqlite_path(target.location)
        else:
            location = postgres_dsn(target.location)
    except SchemaCaptureError as exc:
        raise SandboxMisconfigured(str(exc)) from None
    return sandbox_for(target.engine, location, timeout_s=timeout_s, max_rows=max_rows)


def run_on_target(
    target: TargetDatabase,
    sql: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> QueryResult:
    """Run one query on ``target`` through the SQL gate and the engine sandbox.

    Raises SQLRejected (gate) or SandboxError (engine, or the target cannot be
    reached). Reads only; safe for untrusted SQL.
    """
    checked = check_sql(sql, dialect=target.dialect)
    return sandbox_for_target(target, timeout_s=timeout_s, max_rows=max_rows).run(
        checked
    )
