"""A correction's result on its target, as a digest that tells corrections apart.

The SQL runs through `targets.execution.run_on_target` (gate and sandbox). Error
texts may quote the SQL, so they are redacted before anyone stores or shows them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from feedback.redaction import redact
from targets.execution import run_on_target
from targets.models import TargetDatabase
from targets.sandbox import QueryResult, ResultTooLarge, SandboxError
from targets.schema import SchemaCaptureError
from targets.sqlgate import SQLRejected


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


def run_redacted(*, target: TargetDatabase, sql: str) -> QueryResult:
    """Gate and run `sql` read-only on `target` (rows capped, maybe truncated).

    Raises ExecutionFailed, with a redacted message, when it is refused or fails.
    """
    try:
        return run_on_target(target, sql)
    except SQLRejected as exc:
        raise ExecutionFailed(redact(f"Refused: {exc.reason}").text) from None
    except ResultTooLarge as exc:
        raise ExecutionFailed(f"{str(exc).capitalize()}.") from None
    except (SandboxError, SchemaCaptureError, ValueError) as exc:
        raise ExecutionFailed(redact(f"Failed on the target: {exc}").text) from None


def execute_on_target(*, target: TargetDatabase, sql: str) -> Execution:
    """Gate and run `sql` read-only on `target`; raise ExecutionFailed otherwise."""
    result = run_redacted(target=target, sql=sql)
    if result.truncated:
        raise ExecutionFailed(f"Returns more than {len(result.rows)} rows.")
    return execution_of(result)


def execution_of(result: QueryResult) -> Execution:
    """The fingerprint of a complete result."""
    return Execution(digest=result_digest(result.rows), rows=len(result.rows))
