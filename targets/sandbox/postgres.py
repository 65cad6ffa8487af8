"""PostgreSQL sandbox: a SELECT-only login role, verified before use.

Read-only transactions can be escaped (docs/security-notes.md); grants cannot, so
the sandbox refuses to run as a role that may write, create or own anything.
A client-side cursor receives the whole result into memory before the first row
can be counted, so rows come through a server-side cursor, in batches, under the
shared byte cap; the shared watchdog cancels a statement that outlives its
deadline across several fetches.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from targets.sandbox.base import (
    DEFAULT_MAX_RESULT_BYTES,
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    WATCHDOG,
    QueryFailed,
    QueryRefused,
    QueryResult,
    QueryTimeout,
    SandboxMisconfigured,
    fetch_within,
    refuse_unusable_text,
)


class PostgresSandbox:
    """Execution as a SELECT-only PostgreSQL login role, one statement per call.

    Every call runs in its own transaction that is always rolled back, re-applies
    ``statement_timeout`` with ``SET LOCAL`` semantics, and declares the query as
    a server-side cursor through the extended protocol, which PostgreSQL refuses
    to build from several commands (and DECLARE accepts only queries). On first
    use the role is checked: a superuser, a table owner or any
    INSERT/UPDATE/DELETE/TRUNCATE grant makes the sandbox refuse to run.
    """

    engine = "postgres"

    def __init__(
        self,
        dsn: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_rows: int = DEFAULT_MAX_ROWS,
        max_bytes: int = DEFAULT_MAX_RESULT_BYTES,
        verify_role: bool = True,
    ) -> None:
        """Remember the DSN; the connection is opened (and verified) lazily."""
        self.dsn = dsn
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.max_bytes = max_bytes
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
        self,
        sql: str,
        *,
        timeout_s: float | None = None,
        max_rows: int | None = None,
        max_bytes: int | None = None,
    ) -> QueryResult:
        """Run one statement in a rolled-back transaction; raise SandboxError."""
        import psycopg
        from psycopg import errors as pg_errors

        refuse_unusable_text(sql)
        # A trailing ";" makes PostgreSQL see a second (empty) command; drop it.
        sql = sql.rstrip().rstrip(";").rstrip()
        limit = self.max_rows if max_rows is None else max_rows
        cap = self.max_bytes if max_bytes is None else max_bytes
        budget = self.timeout_s if timeout_s is None else timeout_s
        conn = self._connection()
        started = time.monotonic()
        ticket = WATCHDOG.arm(started + budget, lambda: conn.cancel_safe(timeout=2))
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
            with conn.cursor(name=f"loopgate_{uuid.uuid4().hex}") as cur:
                cur.execute(sql)
                if cur.description is None:
                    raise QueryRefused("statement returned no result set")
                columns = tuple(d.name for d in cur.description)
                rows, truncated = fetch_within(
                    cur.fetchmany, max_rows=limit, max_bytes=cap
                )
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
            WATCHDOG.disarm(ticket)
            _rollback_quietly(conn)
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
