"""Engine-level sandboxes that run one untrusted read-only query each.

The sandbox never relies on :mod:`targets.sqlgate`: a query that reaches it
unchecked must still be unable to write, attach, change settings or run forever.
Measured traps (see docs/security-notes.md): SQLite ``mode=ro`` protects only the
main file and ``PRAGMA query_only`` can be switched off by the query itself, so the
SQLite sandbox relies on an authorizer, limits and a progress-handler deadline;
PostgreSQL read-only transactions can be escaped, so the PostgreSQL sandbox relies
on a SELECT-only login role, which it verifies before use; the MariaDB sandbox
likewise verifies its account's grants.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from targets.sandbox.base import (
    DEFAULT_MAX_RESULT_BYTES,
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    MAX_SQL_LENGTH,
    MAX_VALUE_LENGTH,
    QueryFailed,
    QueryRefused,
    QueryResult,
    QueryTimeout,
    ResultTooLarge,
    Sandbox,
    SandboxError,
    SandboxMisconfigured,
)
from targets.sandbox.sqlite import SqliteSandbox

if TYPE_CHECKING:
    from targets.sandbox.duckdb import DuckDBSandbox
    from targets.sandbox.mariadb import MariaDBSandbox
    from targets.sandbox.postgres import PostgresSandbox

# The other engines' drivers load on first use: scoring SQLite files (the
# score_predictions command) need not pay DuckDB's import (~50 ms) or the others'.
_LAZY = {
    "DuckDBSandbox": "targets.sandbox.duckdb",
    "MariaDBSandbox": "targets.sandbox.mariadb",
    "PostgresSandbox": "targets.sandbox.postgres",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "DEFAULT_MAX_RESULT_BYTES",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_TIMEOUT_S",
    "MAX_SQL_LENGTH",
    "MAX_VALUE_LENGTH",
    "DuckDBSandbox",
    "MariaDBSandbox",
    "PostgresSandbox",
    "QueryFailed",
    "QueryRefused",
    "QueryResult",
    "QueryTimeout",
    "ResultTooLarge",
    "Sandbox",
    "SandboxError",
    "SandboxMisconfigured",
    "SqliteSandbox",
    "close_all",
    "sandbox_for",
]


_local = threading.local()


def sandbox_for(
    engine: str,
    location: str | Path,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_bytes: int = DEFAULT_MAX_RESULT_BYTES,
) -> Sandbox:
    """Return a cached sandbox for ``engine`` ("sqlite"/"duckdb" path, "postgres"
    DSN or "mariadb" ``mysql://`` URL).

    Sandboxes are cached per thread, because SQLite connections are thread-bound
    and reusing them is what makes warm scoring fast.
    """
    cache: dict[tuple[str, str, float, int, int], Sandbox] = _local.__dict__.setdefault(
        "cache", {}
    )
    kind = engine.lower()
    key = (kind, str(location), timeout_s, max_rows, max_bytes)
    found = cache.get(key)
    if found is not None:
        return found
    sandbox: Sandbox
    if kind == "sqlite":
        sandbox = SqliteSandbox(
            location, timeout_s=timeout_s, max_rows=max_rows, max_bytes=max_bytes
        )
    elif kind in {"postgres", "postgresql"}:
        from targets.sandbox.postgres import PostgresSandbox

        sandbox = PostgresSandbox(
            str(location), timeout_s=timeout_s, max_rows=max_rows, max_bytes=max_bytes
        )
    elif kind == "mariadb":
        from targets.sandbox.mariadb import MariaDBSandbox

        sandbox = MariaDBSandbox(
            str(location), timeout_s=timeout_s, max_rows=max_rows, max_bytes=max_bytes
        )
    elif kind == "duckdb":
        from targets.sandbox.duckdb import DuckDBSandbox

        sandbox = DuckDBSandbox(
            location, timeout_s=timeout_s, max_rows=max_rows, max_bytes=max_bytes
        )
    else:
        raise ValueError(f"unsupported engine {engine!r}")
    cache[key] = sandbox
    return sandbox


def close_all(sandboxes: Sequence[Sandbox] | None = None) -> None:
    """Close the given sandboxes, or every sandbox cached for this thread."""
    cache: dict[Any, Sandbox] = _local.__dict__.get("cache", {})
    targets = list(sandboxes) if sandboxes is not None else list(cache.values())
    for sandbox in targets:
        sandbox.close()
    if sandboxes is None:
        cache.clear()
