"""The one entry point that runs untrusted SQL on a target database.

Two independent layers, each holding when the other is bypassed: the static gate
(`targets.sqlgate`) and the engine sandbox (`targets.sandbox`).
"""

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from targets.exceptions import GoldUnrunnable
from targets.models import TargetDatabase
from targets.sandbox import (
    QueryResult,
    Sandbox,
    SandboxError,
    SandboxMisconfigured,
    sandbox_for,
)
from targets.schema import FILE_ENGINES, SchemaCaptureError, postgres_dsn, sqlite_path
from targets.sqlgate import SQLRejected, check_sql


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
    subclasses when the engine cannot be opened safely, or a PostgreSQL or
    MariaDB target's DSN variable is unset.
    """
    try:
        if target.engine in FILE_ENGINES:
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


@dataclass(frozen=True, slots=True)
class VerifiedGold:
    """Proof that a golden query ran on its target with a complete result."""

    target_id: int
    sql: str
    result: QueryResult

    def covers(self, target: TargetDatabase, sql: str) -> bool:
        """Whether this proves ``sql`` on ``target`` (surrounding blanks aside)."""
        return self.target_id == target.pk and self.sql == sql.strip()


def verify_gold(target: TargetDatabase, sql: str) -> VerifiedGold:
    """Run a golden query on its target, as every way into the golden set must.

    The query goes through the gate and the sandbox (`run_on_target`) and must
    return its whole result: a gold cut at the row cap, refused as too large, or
    failing on the engine would leave every later score against it meaningless.
    Raises GoldUnrunnable (field ``sql``) carrying the engine's own message.
    Reads only; callers may retry.
    """
    try:
        result = run_on_target(target, sql)
    except SQLRejected as exc:
        problem = f"refused by the SQL gate: {exc.reason}"
    except (SandboxError, SchemaCaptureError) as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:
        raise GoldUnrunnable(
            f"The golden query does not run on {target.name}: {problem}", field="sql"
        )
    if result.truncated:
        raise GoldUnrunnable(
            f"The golden query returns more than {len(result.rows)} rows on "
            f"{target.name}: a golden result must be complete.",
            field="sql",
        )
    return VerifiedGold(target_id=target.pk, sql=sql.strip(), result=result)
