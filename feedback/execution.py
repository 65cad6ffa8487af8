"""Running a correction's SQL on its target database, read-only, with a digest.

Two layers, as evaluation does: the static gate (evaluation.sqlgate) and the
engine sandbox (evaluation.sandbox). Error texts may quote the SQL, so they are
redacted before anyone stores or shows them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from evaluation.models import TargetDatabase
from evaluation.sandbox import SandboxError, sandbox_for
from evaluation.sqlgate import SQLRejected, check_sql
from evaluation.targets import SchemaCaptureError, postgres_dsn, sqlite_path
from feedback.redaction import redact

MAX_ROWS = 10_000


class ExecutionFailed(Exception):
    """The SQL was refused or failed on the target; `message` is redacted."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Execution:
    """Result fingerprint of one successful execution."""

    digest: str
    rows: int


def _normal(value: Any) -> Any:
    # 1 == 1.0 in SQL results: compare integral floats as integers.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value


def result_digest(rows: list[tuple[Any, ...]]) -> str:
    """Order-insensitive digest of a result (a multiset of positional rows)."""
    lines = sorted(
        json.dumps([_normal(v) for v in row], default=str, ensure_ascii=False)
        for row in rows
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def execute_on_target(*, target: TargetDatabase, sql: str) -> Execution:
    """Gate and run `sql` read-only on `target`; raise ExecutionFailed otherwise."""
    try:
        statement = check_sql(sql, dialect=target.dialect)
        location = (
            str(sqlite_path(target.location))
            if target.engine == TargetDatabase.Engine.SQLITE
            else postgres_dsn(target.location)
        )
        result = sandbox_for(target.engine, location, max_rows=MAX_ROWS).run(statement)
    except SQLRejected as exc:
        raise ExecutionFailed(redact(f"Refused: {exc.reason}").text) from None
    except (SandboxError, SchemaCaptureError, ValueError) as exc:
        raise ExecutionFailed(redact(f"Failed on the target: {exc}").text) from None
    if result.truncated:
        raise ExecutionFailed(f"Returns more than {MAX_ROWS} rows.")
    return Execution(digest=result_digest(result.rows), rows=len(result.rows))
