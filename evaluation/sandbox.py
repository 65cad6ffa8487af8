"""Engine-level sandboxes that run one untrusted read-only query each.

The sandbox never relies on :mod:`evaluation.sqlgate`: a query that reaches it
unchecked must still be unable to write, attach, change settings or run forever.
Measured traps (see docs/security-notes.md): SQLite ``mode=ro`` protects only the
main file and ``PRAGMA query_only`` can be switched off by the query itself, so the
SQLite sandbox relies on an authorizer, limits and a progress-handler deadline;
PostgreSQL read-only transactions can be escaped, so the PostgreSQL sandbox relies
on a SELECT-only login role, which it verifies before use.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

__all__ = [
    "DEFAULT_MAX_ROWS",
    "DEFAULT_TIMEOUT_S",
    "PostgresSandbox",
    "QueryFailed",
    "QueryRefused",
    "QueryResult",
    "QueryTimeout",
    "Sandbox",
    "SandboxError",
    "SandboxMisconfigured",
    "SqliteSandbox",
    "sandbox_for",
]

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


_SQLITE_ALLOWED_ACTIONS = frozenset(
    (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
     sqlite3.SQLITE_RECURSIVE)
)  # fmt: skip
# Functions that touch files or extensions when compiled in; deny even if present.
_SQLITE_DENIED_FUNCTIONS = frozenset(
    ["load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"]
)


def _sqlite_authorizer(
    action: int, arg1: str | None, arg2: str | None, _db: str | None, _src: str | None
) -> int:
    if action not in _SQLITE_ALLOWED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in (
        _SQLITE_DENIED_FUNCTIONS
    ):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


_FORMAT_SPEC = re.compile(r"%[-+ 0#,!]*(\d+|\*)?(?:\.(\d+|\*))?")


class _BoundedPrintf:
    """Replacement for SQLite's printf/format that refuses oversized widths.

    The built-in loops over the requested width even after the result outgrew
    SQLITE_LIMIT_LENGTH (measured: 6 s for a width of 2e9), and the progress
    handler cannot interrupt a single function call. Arguments are checked here,
    then formatting is delegated to the built-in on a private in-memory connection.
    """

    def __init__(self) -> None:
        self._helper = sqlite3.connect(":memory:", check_same_thread=False)
        self._helper.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_LENGTH)

    def __call__(self, *args: Any) -> Any:
        if not args or not isinstance(args[0], str):
            return self._format(args)
        starred = False
        for width, precision in _FORMAT_SPEC.findall(args[0]):
            for part in (width, precision):
                starred = starred or part == "*"
                if part.isdigit() and int(part) > MAX_VALUE_LENGTH:
                    raise ValueError("printf width too large")
        if starred and any(
            isinstance(a, int | float) and abs(a) > MAX_VALUE_LENGTH for a in args[1:]
        ):
            raise ValueError("printf width too large")
        return self._format(args)

    def _format(self, args: tuple[Any, ...]) -> Any:
        marks = ", ".join("?" * len(args))
        row = self._helper.execute(f"SELECT printf({marks})", args).fetchone()
        return row[0] if row else None


def _lenient_text(raw: bytes) -> str:
    # Spider databases hold a few non-UTF-8 bytes; the reference evaluator decodes
    # with errors="ignore", and results must compare the same way.
    return raw.decode(errors="ignore")


class SqliteSandbox:
    """Read-only, deadline-bounded execution against one SQLite file.

    One connection is kept open and reused across queries (prepared statements are
    cached by sqlite3); it is bound to the creating thread.
    """

    engine = "sqlite"

    def __init__(
        self,
        path: str | Path,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_rows: int = DEFAULT_MAX_ROWS,
        progress_steps: int = 1_000,
    ) -> None:
        """Open ``path`` read-only and install the authorizer, limits and deadline."""
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise SandboxMisconfigured(f"no SQLite database at {self.path}")
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self._deadline = 0.0
        uri = f"file:{quote(str(self.path))}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
        # Our own settings go first: once the authorizer is installed, PRAGMA is denied.
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA trusted_schema = OFF")
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_LENGTH)
        conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_LENGTH)
        conn.set_authorizer(_sqlite_authorizer)
        conn.set_progress_handler(self._past_deadline, progress_steps)
        conn.text_factory = _lenient_text
        printf = _BoundedPrintf()
        for name in ("printf", "format"):
            conn.create_function(name, -1, printf, deterministic=True)
        self._conn: sqlite3.Connection | None = conn

    def _past_deadline(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    def run(
        self, sql: str, *, timeout_s: float | None = None, max_rows: int | None = None
    ) -> QueryResult:
        """Run one statement; raise QueryTimeout, QueryRefused or QueryFailed."""
        if self._conn is None:
            raise SandboxMisconfigured("sandbox is closed")
        if len(sql) > MAX_SQL_LENGTH:
            raise QueryRefused(f"SQL longer than {MAX_SQL_LENGTH} characters")
        limit = self.max_rows if max_rows is None else max_rows
        budget = self.timeout_s if timeout_s is None else timeout_s
        started = time.monotonic()
        self._deadline = started + budget
        cursor = self._conn.cursor()
        try:
            cursor.execute(sql)
            rows = cursor.fetchmany(limit + 1)
            columns = tuple(d[0] for d in cursor.description or ())
        except sqlite3.OperationalError as err:
            if time.monotonic() > self._deadline or str(err) == "interrupted":
                raise QueryTimeout(f"query exceeded {budget:.3g} s") from err
            raise _classify_sqlite_error(err) from err
        except (sqlite3.ProgrammingError, sqlite3.Warning, ValueError) as err:
            # sqlite3 raises these for several statements or NUL characters.
            raise QueryRefused(str(err)) from err
        except sqlite3.Error as err:
            raise _classify_sqlite_error(err) from err
        finally:
            # Resetting the statement releases its read lock even when truncated.
            cursor.close()
            self._deadline = 0.0
        truncated = len(rows) > limit
        if truncated:
            del rows[limit:]
        return QueryResult(
            columns, rows, truncated, (time.monotonic() - started) * 1000.0
        )

    def close(self) -> None:
        """Close the connection; the sandbox cannot be used afterwards."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _classify_sqlite_error(err: sqlite3.Error) -> SandboxError:
    message = str(err)
    if "not authorized" in message or "authorization denied" in message:
        return QueryRefused(message)
    return QueryFailed(message)


class PostgresSandbox:
    """Execution as a SELECT-only PostgreSQL login role, one statement per call.

    Every call runs in its own transaction that is always rolled back, re-applies
    ``statement_timeout`` with ``SET LOCAL`` semantics, and sends the query as a
    server-side prepared statement, which PostgreSQL refuses to build from several
    commands. On first use the role is checked: a superuser, a table owner or any
    INSERT/UPDATE/DELETE/TRUNCATE grant makes the sandbox refuse to run.
    """

    engine = "postgres"

    def __init__(
        self,
        dsn: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_rows: int = DEFAULT_MAX_ROWS,
        verify_role: bool = True,
    ) -> None:
        """Remember the DSN; the connection is opened (and verified) lazily."""
        self.dsn = dsn
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.verify_role = verify_role
        self._conn: Any = None

    def _connection(self) -> Any:
        import psycopg

        if self._conn is not None and not self._conn.closed:
            return self._conn
        conn = psycopg.connect(self.dsn, autocommit=False)
        try:
            if self.verify_role:
                _verify_select_only(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def run(
        self, sql: str, *, timeout_s: float | None = None, max_rows: int | None = None
    ) -> QueryResult:
        """Run one statement in a rolled-back transaction; raise SandboxError."""
        import psycopg
        from psycopg import errors as pg_errors

        if len(sql) > MAX_SQL_LENGTH:
            raise QueryRefused(f"SQL longer than {MAX_SQL_LENGTH} characters")
        if "\x00" in sql:
            raise QueryRefused("SQL contains a NUL character")
        # A trailing ";" makes PostgreSQL see a second (empty) command; drop it.
        sql = sql.rstrip().rstrip(";").rstrip()
        limit = self.max_rows if max_rows is None else max_rows
        budget = self.timeout_s if timeout_s is None else timeout_s
        conn = self._connection()
        started = time.monotonic()
        try:
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION READ ONLY")
                timeout_ms = str(max(1, int(budget * 1000)))
                cur.execute(
                    "SELECT set_config('statement_timeout', %s, true),"
                    " set_config('lock_timeout', %s, true),"
                    " set_config('idle_in_transaction_session_timeout', %s, true)",
                    (timeout_ms, timeout_ms, str(max(1000, int(budget * 2000)))),
                )
                cur.execute(sql, prepare=True)
                if cur.description is None:
                    raise QueryRefused("statement returned no result set")
                columns = tuple(d.name for d in cur.description)
                rows = [tuple(r) for r in cur.fetchmany(limit + 1)]
        except pg_errors.QueryCanceled as err:
            raise QueryTimeout(f"query exceeded {budget:.3g} s") from err
        except (
            pg_errors.InsufficientPrivilege,
            pg_errors.ReadOnlySqlTransaction,
            pg_errors.SyntaxError,
        ) as err:
            refused = isinstance(
                err,
                pg_errors.InsufficientPrivilege | (pg_errors.ReadOnlySqlTransaction),
            ) or "multiple commands" in str(err)
            raise (QueryRefused if refused else QueryFailed)(str(err)) from err
        except psycopg.Error as err:
            raise QueryFailed(str(err)) from err
        finally:
            _rollback_quietly(conn)
        truncated = len(rows) > limit
        if truncated:
            del rows[limit:]
        return QueryResult(
            columns, rows, truncated, (time.monotonic() - started) * 1000.0
        )

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _rollback_quietly(conn: Any) -> None:
    import psycopg

    try:
        conn.rollback()
    except psycopg.Error:
        # A broken connection cannot hold a transaction open; drop it.
        conn.close()


_ROLE_CHECK = """
SELECT
  (SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls
     FROM pg_roles WHERE rolname = current_user) AS powerful,
  has_database_privilege(current_database(), 'CREATE') AS can_create,
  has_database_privilege(current_database(), 'TEMP') AS can_temp,
  (SELECT string_agg(c.oid::regclass::text, ', ')
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_toast%'
      AND (pg_has_role(c.relowner, 'USAGE')
           OR (c.relkind <> 'S' AND (
                  has_table_privilege(c.oid, 'INSERT')
               OR has_table_privilege(c.oid, 'UPDATE')
               OR has_table_privilege(c.oid, 'DELETE')
               OR has_table_privilege(c.oid, 'TRUNCATE')))
           OR (c.relkind = 'S' AND has_sequence_privilege(c.oid, 'UPDATE')))
  ) AS writable
"""


def _verify_select_only(conn: Any) -> None:
    try:
        with conn.cursor() as cur:
            cur.execute(_ROLE_CHECK)
            powerful, can_create, can_temp, writable = cur.fetchone()
    finally:
        conn.rollback()
    problems = []
    if powerful:
        problems.append("role is superuser or may create roles/databases")
    if can_create or can_temp:
        problems.append("role may create schemas or temporary tables")
    if writable:
        problems.append(f"role owns or may write: {writable}")
    if problems:
        raise SandboxMisconfigured("not a SELECT-only role: " + "; ".join(problems))


_local = threading.local()


def sandbox_for(
    engine: str,
    location: str | Path,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> Sandbox:
    """Return a cached sandbox for ``engine`` ("sqlite" path or "postgres" DSN).

    Sandboxes are cached per thread, because SQLite connections are thread-bound
    and reusing them is what makes warm scoring fast.
    """
    cache: dict[tuple[str, str, float, int], Sandbox] = _local.__dict__.setdefault(
        "cache", {}
    )
    kind = engine.lower()
    key = (kind, str(location), timeout_s, max_rows)
    found = cache.get(key)
    if found is not None:
        return found
    sandbox: Sandbox
    if kind == "sqlite":
        sandbox = SqliteSandbox(location, timeout_s=timeout_s, max_rows=max_rows)
    elif kind in {"postgres", "postgresql"}:
        sandbox = PostgresSandbox(str(location), timeout_s=timeout_s, max_rows=max_rows)
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
