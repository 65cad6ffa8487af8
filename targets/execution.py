"""The one entry point that runs untrusted SQL on a target database.

Two independent layers, each holding when the other is bypassed: the static gate
(`targets.sqlgate`) and the engine sandbox (`targets.sandbox`).
"""

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from targets.models import TargetDatabase
from targets.sandbox import (
    QueryResult,
    Sandbox,
    SandboxMisconfigured,
    sandbox_for,
)
from targets.schema import SchemaCaptureError, postgres_dsn, sqlite_path
from targets.sqlgate import check_sql


@dataclass(frozen=True, slots=True)
class Limits:
    """The caps every query on a target runs under (settings ``SANDBOX_*``)."""

    timeout_s: float
    max_rows: int
    max_bytes: int


def sandbox_limits() -> Limits:
    """The configured deadline, row cap and byte cap for untrusted SQL."""
    return Limits(
        timeout_s=settings.SANDBOX_TIMEOUT_MS / 1000.0,
        max_rows=settings.SANDBOX_MAX_ROWS,
        max_bytes=settings.SANDBOX_MAX_RESULT_BYTES,
    )


def sandbox_for_target(target: TargetDatabase) -> Sandbox:
    """The (per-thread cached) sandbox that runs queries on ``target``.

    It applies the configured limits (`sandbox_limits`). Raises SandboxError
    subclasses when the engine cannot be opened safely, or a PostgreSQL target's
    DSN variable is unset.
    """
    try:
        if target.engine == "sqlite":
            location: str | Path = sqlite_path(target.location)
        else:
            location = postgres_dsn(target.location)
    except SchemaCaptureError as exc:
        raise SandboxMisconfigured(str(exc)) from None
    limits = sandbox_limits()
    return sandbox_for(
        target.engine,
        location,
        timeout_s=limits.timeout_s,
        max_rows=limits.max_rows,
        max_bytes=limits.max_bytes,
    )


def run_on_target(target: TargetDatabase, sql: str) -> QueryResult:
    """Run one query on ``target`` through the SQL gate and the engine sandbox.

    Raises SQLRejected (gate) or SandboxError (engine, or the target cannot be
    reached; ResultTooLarge past the byte cap). The result is truncated past the
    row cap. Reads only; safe for untrusted SQL.
    """
    checked = check_sql(sql, dialect=target.dialect)
    return sandbox_for_target(target).run(checked)
