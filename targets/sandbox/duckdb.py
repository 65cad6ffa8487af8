"""DuckDB sandbox: a read-only file, no external access, a locked configuration.

DuckDB reads files and URLs from SQL (``read_csv``, ``FROM 'x.csv'``, ``COPY``,
``ATTACH``, ``INSTALL``/``LOAD``) and can change its own settings (``SET``,
``PRAGMA``). The boundary is the engine's own configuration, set when the database
is opened and then locked: external access off (no file system, no network, no
extension loading), no extension autoloading or autoinstalling, no Python
replacement scans, a memory limit, one thread and no temporary directory (a query
that outgrows the limit fails instead of spilling to disk). On top of that only a
single statement of type SELECT runs, scalar calls that build values of a chosen
size need literal bounds (:mod:`targets.sandbox.duckdb_sizes`: DuckDB's memory
limit does not cover them), and a watchdog interrupts the query at its deadline.

DuckDB shares one database instance per file within a process, and settings are
global to that instance: every sandbox on a file must be opened with the same
limits, and the file cannot be opened for writing in the same process meanwhile.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import duckdb

from targets.sandbox.base import (
    DEFAULT_MAX_RESULT_BYTES,
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    WATCHDOG,
    QueryFailed,
    QueryRefused,
    QueryResult,
    QueryTimeout,
    SandboxError,
    SandboxMisconfigured,
    fetch_within,
    refuse_unusable_text,
)
from targets.sandbox.duckdb_sizes import check_sizes

DEFAULT_MEMORY_LIMIT = "512MB"
DEFAULT_THREADS = 1

# Names checked against ``duckdb_settings()`` of the pinned duckdb (2.0.1).
_LOCKED_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_persistent_secrets": False,
    "python_enable_replacements": False,
    # No spilling: a query past the memory limit fails with OutOfMemory.
    "temp_directory": "",
    "max_temp_directory_size": "0B",
}


def _config(memory_limit: str, threads: int) -> dict[str, Any]:
    return {**_LOCKED_CONFIG, "memory_limit": memory_limit, "threads": threads}


class DuckDBSandbox:
    """Read-only, deadline-bounded execution against one DuckDB file.

    One connection is kept open and reused across queries; use it from one thread
    at a time (``sandbox_for`` caches one per thread).
    """

    engine = "duckdb"

    def __init__(
        self,
        path: str | Path,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_rows: int = DEFAULT_MAX_ROWS,
        max_bytes: int = DEFAULT_MAX_RESULT_BYTES,
        memory_limit: str = DEFAULT_MEMORY_LIMIT,
        threads: int = DEFAULT_THREADS,
    ) -> None:
        """Open ``path`` read-only under the locked configuration; never create it."""
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise SandboxMisconfigured(f"no DuckDB database at {self.path}")
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        try:
            conn = duckdb.connect(
                str(self.path), read_only=True, config=_config(memory_limit, threads)
            )
        except duckdb.Error as err:
            raise SandboxMisconfigured(
                f"cannot open {self.path} read-only: {err}"
            ) from err
        try:
            # Session options cannot be passed at connect; set them before the lock.
            # Another sandbox on the same file may have locked the instance already.
            if not _locked(conn):
                conn.execute("SET enable_progress_bar = false")
                conn.execute("SET lock_configuration = true")
            _verify_locked(conn)
        except (duckdb.Error, SandboxMisconfigured):
            conn.close()
            raise
        self._conn: duckdb.DuckDBPyConnection | None = conn

    def run(
        self,
        sql: str,
        *,
        timeout_s: float | None = None,
        max_rows: int | None = None,
        max_bytes: int | None = None,
    ) -> QueryResult:
        """Run one SELECT within its deadline and caps, or raise SandboxError."""
        conn = self._conn
        if conn is None:
            raise SandboxMisconfigured("sandbox is closed")
        refuse_unusable_text(sql)
        limit = self.max_rows if max_rows is None else max_rows
        cap = self.max_bytes if max_bytes is None else max_bytes
        budget = self.timeout_s if timeout_s is None else timeout_s
        started = time.monotonic()
        deadline = started + budget
        ticket = WATCHDOG.arm(deadline, conn.interrupt)
        try:
            statement = _single_select(conn, sql)
            serialized = conn.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
            check_sizes(str(serialized[0]) if serialized else "{}")
            conn.execute(statement)
            rows, truncated = fetch_within(
                lambda size: [_plain_row(r) for r in conn.fetchmany(size)],
                max_rows=limit,
                max_bytes=cap,
            )
            columns = tuple(d[0] for d in conn.description or ())
        except duckdb.InterruptException as err:
            raise QueryTimeout(f"query exceeded {budget:.3g} s") from err
        except duckdb.Error as err:
            if time.monotonic() > deadline:
                raise QueryTimeout(f"query exceeded {budget:.3g} s") from err
            raise _classify_duckdb_error(err) from err
        finally:
            WATCHDOG.disarm(ticket)
        return QueryResult(
            columns, rows, truncated, (time.monotonic() - started) * 1000.0
        )

    def close(self) -> None:
        """Close the connection; the sandbox cannot be used afterwards."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _plain_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(_plain(value) for value in row)


def _plain(value: Any) -> Any:
    """A DuckDB value as the scalar types the other engines return.

    Nested values (LIST, STRUCT, MAP, arrays) become their text, so that rows stay
    hashable and comparable and the byte cap counts what they hold (the size of a
    Python list does not include its items); UUIDs become text as on SQLite.
    """
    if isinstance(value, list | tuple | dict | set | uuid.UUID):
        return str(value)
    return value


def _single_select(conn: duckdb.DuckDBPyConnection, sql: str) -> Any:
    """The one statement in ``sql``, refused unless DuckDB parses it as a SELECT.

    ``execute`` would otherwise run every statement and return the last one's rows.
    SELECT here covers queries, VALUES, DESCRIBE, SHOW and SUMMARIZE (all reads);
    SET, PRAGMA, CALL, COPY, ATTACH, LOAD, EXPORT and transactions are other types.
    """
    statements = conn.extract_statements(sql)
    if len(statements) != 1:
        raise QueryRefused(f"exactly one statement allowed, found {len(statements)}")
    statement = statements[0]
    if statement.type != duckdb.StatementType.SELECT:
        raise QueryRefused(f"only SELECT statements run, not {statement.type.name}")
    return statement


def _locked(conn: duckdb.DuckDBPyConnection) -> bool:
    row = conn.execute("SELECT current_setting('lock_configuration')").fetchone()
    return bool(row and row[0])


def _verify_locked(conn: duckdb.DuckDBPyConnection) -> None:
    """Refuse an instance whose boundary settings are not what this module sets.

    A file opened earlier in this process without them (e.g. for writing) shares
    its instance, so the settings are read back instead of trusted.
    """
    names = ["lock_configuration", *_LOCKED_CONFIG]
    found = dict(
        conn.execute(
            "SELECT name, value FROM duckdb_settings() WHERE list_contains(?, name)",
            [names],
        ).fetchall()
    )
    expected = {"lock_configuration": "true", "enable_external_access": "false"}
    expected.update(
        {k: str(v).lower() for k, v in _LOCKED_CONFIG.items() if isinstance(v, bool)}
    )
    wrong = sorted(k for k, v in expected.items() if found.get(k) != v)
    if wrong:
        raise SandboxMisconfigured(f"DuckDB settings not locked down: {wrong}")


def _classify_duckdb_error(err: duckdb.Error) -> SandboxError:
    message = str(err)
    if isinstance(err, duckdb.PermissionException) or (
        "configuration has been locked" in message
        or "read-only mode" in message
        or "attached in read-only mode" in message
    ):
        return QueryRefused(message)
    return QueryFailed(message)
