"""What every engine sandbox shares: limits, the result, the errors, the protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MAX_ROWS = 10_000
MAX_VALUE_LENGTH = 1_000_000
MAX_SQL_LENGTH = 100_000


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Rows of one query; ``truncated`` is set when more than ``max_rows`` existed."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    truncated: bool
    elapsed_ms: float


class SandboxError(Exception):
    """Base class for every failure to produce a query result."""


class QueryTimeout(SandboxError):
    """The query ran past its deadline and was stopped by the engine."""


class QueryRefused(SandboxError):
    """The engine refused the statement (not authorized, several statements...)."""


class QueryFailed(SandboxError):
    """The statement is valid input but failed in the engine (bad column...)."""


class SandboxMisconfigured(SandboxError):
    """The sandbox cannot guarantee its boundary (e.g. the role can write)."""


class Sandbox(Protocol):
    """What scoring needs from an engine: run one query, get rows or an error."""

    engine: str

    def run(
        self, sql: str, *, timeout_s: float | None = None, max_rows: int | None = None
    ) -> QueryResult:
        """Run ``sql`` and return its (possibly truncated) result."""
        ...

    def close(self) -> None:
        """Release the engine connection."""
        ...
