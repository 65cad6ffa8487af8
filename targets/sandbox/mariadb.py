"""MariaDB/MySQL sandbox: a SELECT-only account, verified before use.

As on PostgreSQL, a read-only transaction is defence in depth, not the boundary:
the account's grants are. The sandbox reads ``SHOW GRANTS`` on every new
connection and refuses an account holding anything beyond SELECT, SHOW VIEW and
USAGE on the connection's own database (no global privilege, no grant or admin
option, no role, no proxy, no routine privilege).

Per statement: ``SET SESSION max_statement_time`` (MariaDB's server-side
deadline), ``START TRANSACTION READ ONLY``, the query through an unbuffered
cursor so rows are counted and sized while they arrive, then ROLLBACK. The
server-side deadline can be lifted by the statement itself (``SET STATEMENT
max_statement_time=0 FOR ...``), so the shared watchdog closes the socket shortly
after the deadline and the server thread is then killed from a fresh
connection; a socket read timeout backs both up. Several statements in one
string are refused by the server (CLIENT.MULTI_STATEMENTS is never set) and LOAD
DATA LOCAL is off on the client.

Session state survives ROLLBACK (user variables, ``SET SESSION``, named locks),
so a statement that returns no result set, or that may leave such state behind
(it mentions ``@`` or ``lock``), costs its connection: the next call opens a
fresh one.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from targets.sandbox.base import (
    DEFAULT_MAX_RESULT_BYTES,
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    WATCHDOG,
    QueryFailed,
    QueryRefused,
    QueryResult,
    QueryTimeout,
    ResultTooLarge,
    SandboxError,
    SandboxMisconfigured,
    fetch_within,
    refuse_unusable_text,
)
from targets.sandbox.mariadb_grants import verify_select_only

# After the server's own deadline, before the client gives up on the socket.
GRACE_S = 0.1
CONNECT_TIMEOUT_S = 5

# ER_STATEMENT_TIMEOUT (MariaDB), ER_QUERY_TIMEOUT (MySQL), ER_QUERY_INTERRUPTED.
_TIMEOUT_CODES = frozenset({1969, 3024, 1317})
# Access denied (database, table, column, routine, global privilege), read-only
# transaction or server, command not allowed.
_REFUSED_CODES = frozenset(
    {1044, 1045, 1142, 1143, 1227, 1370, 1792, 1290, 1148, 1095, 1211, 1410, 1419}
)
_LOST_CONNECTION_CODES = frozenset({2006, 2013, 2014, 2055})
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_SESSION_STATE_HINT = re.compile(r"@|lock", re.IGNORECASE)
# The SQL gate parses with sqlglot's MySQL dialect: backslash escapes in strings,
# double quotes for strings, ``||`` as OR. A server whose default sql_mode adds
# NO_BACKSLASH_ESCAPES, ANSI_QUOTES or PIPES_AS_CONCAT would read the same text
# differently from the gate, so every connection pins a mode without them (and
# without ONLY_FULL_GROUP_BY, which MariaDB also leaves out by default).
SQL_MODE = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"


@dataclass(frozen=True, slots=True)
class MySQLAddress:
    """Where and as whom to connect, parsed from ``mysql://user:pw@host:port/db``."""

    host: str
    port: int
    user: str
    password: str
    database: str


def parse_mysql_dsn(dsn: str) -> MySQLAddress:
    """Parse a ``mysql://`` (or ``mariadb://``) URL; the database is required."""
    try:
        parts = urlsplit(dsn)
        port = parts.port or 3306
    except ValueError as exc:
        raise SandboxMisconfigured(f"not a MySQL URL: {exc}") from None
    if parts.scheme not in {"mysql", "mariadb"}:
        raise SandboxMisconfigured("a MySQL URL starts with mysql:// or mariadb://")
    database = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not parts.username or not database:
        raise SandboxMisconfigured(
            "a MySQL URL needs a user, a host and a database: "
            "mysql://user:password@host:port/database"
        )
    return MySQLAddress(
        host=parts.hostname,
        port=port,
        user=unquote(parts.username),
        password=unquote(parts.password or ""),
        database=database,
    )


def connect(address: MySQLAddress, *, read_timeout: float | None = None) -> Any:
    """A PyMySQL connection with one statement per call and no LOCAL INFILE."""
    import pymysql
    from pymysql.constants import CLIENT

    conn = pymysql.connect(
        host=address.host,
        port=address.port,
        user=address.user,
        password=address.password,
        database=address.database,
        charset="utf8mb4",
        autocommit=False,
        local_infile=False,
        client_flag=0,
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=read_timeout,
        write_timeout=CONNECT_TIMEOUT_S,
        init_command=f"SET SESSION sql_mode = '{SQL_MODE}'",
        # PyMySQL otherwise tries TLS without verifying the server, after loading
        # the system's CA store on every connect (0.6 s measured under load):
        # nothing is gained on loopback.
        ssl_disabled=address.host in _LOOPBACK,
    )
    if conn.client_flag & (CLIENT.MULTI_STATEMENTS | CLIENT.LOCAL_FILES):
        conn.close()
        raise SandboxMisconfigured("the client enabled multi-statements or infile")
    return conn


class MariaDBSandbox:
    """Execution as a SELECT-only MariaDB/MySQL account, one statement per call."""

    engine = "mariadb"

    def __init__(
        self,
        dsn: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_rows: int = DEFAULT_MAX_ROWS,
        max_bytes: int = DEFAULT_MAX_RESULT_BYTES,
        verify_grants: bool = True,
    ) -> None:
        """Parse the DSN; the connection is opened (and verified) lazily."""
        self.address = parse_mysql_dsn(dsn)
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.verify_grants = verify_grants
        self._conn: Any = None
        self._timed_out = False

    def _connection(self) -> Any:
        import pymysql

        if self._conn is not None and self._conn.open:
            return self._conn
        try:
            conn = connect(self.address)
        except pymysql.Error as exc:
            raise SandboxMisconfigured(f"cannot connect: {exc}") from None
        try:
            if self.verify_grants:
                verify_select_only(conn, self.address.database)
        except pymysql.Error as exc:
            conn.close()
            raise SandboxMisconfigured(f"cannot read the grants: {exc}") from None
        except BaseException:
            conn.close()
            raise
        conn._rfile = _WireBudget(conn._rfile)
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
        """Run one statement in a rolled-back read-only transaction."""
        import pymysql
        from pymysql.cursors import SSCursor

        refuse_unusable_text(sql)
        sql = sql.rstrip().rstrip(";").rstrip()
        limit = self.max_rows if max_rows is None else max_rows
        cap = self.max_bytes if max_bytes is None else max_bytes
        budget = self.timeout_s if timeout_s is None else timeout_s
        started = time.monotonic()
        conn = self._begin(budget)
        thread_id = conn.thread_id()
        wire: _WireBudget = conn._rfile
        self._timed_out = False
        keep = _SESSION_STATE_HINT.search(sql) is None
        ticket = WATCHDOG.arm(started + budget + GRACE_S, lambda: self._cut(conn))
        try:
            cur = conn.cursor(SSCursor)
            wire.arm(cap)
            cur.execute(sql)
            if cur.description is None:
                keep = False
                raise QueryRefused("statement returned no result set")
            columns = tuple(d[0] for d in cur.description)
            deadline = started + budget

            def fetchmany(size: int) -> Any:
                # Parsing rows is Python work: between batches, the deadline is
                # checked here, without waiting for the watchdog's turn.
                if time.monotonic() > deadline:
                    raise QueryTimeout(f"query exceeded {budget:.3g} s")
                return cur.fetchmany(size)

            rows, truncated = fetch_within(fetchmany, max_rows=limit, max_bytes=cap)
            if time.monotonic() > deadline:
                # BENCHMARK() stopped by max_statement_time returns 0, not an error.
                keep = False
                raise QueryTimeout(f"query exceeded {budget:.3g} s")
            # Reading the rest of an unbuffered result could take forever; a
            # complete one was read to its end, so the connection is reusable.
            keep = keep and not truncated
        except SandboxError:
            keep = False
            raise
        except pymysql.Error as exc:
            keep = False
            raise self._classify(exc, budget) from exc
        except (OSError, TimeoutError) as exc:
            keep = False
            raise self._classify(exc, budget) from exc
        except UnicodeError as exc:
            keep = False
            raise QueryRefused(f"SQL is not valid text: {exc}") from exc
        finally:
            wire.disarm()
            WATCHDOG.disarm(ticket)
            if self._timed_out:
                # In the background: the caller's deadline has passed already.
                threading.Thread(
                    target=self._kill_server_thread,
                    args=(thread_id,),
                    name="sandbox-mariadb-kill",
                    daemon=True,
                ).start()
            self._finish(conn, keep=keep)
        return QueryResult(
            columns, rows, truncated, (time.monotonic() - started) * 1000.0
        )

    def _begin(self, budget: float) -> Any:
        """A connection in a fresh read-only transaction under ``budget``.

        A connection the server dropped while idle (wait_timeout, a restart) is
        found here, before the caller's statement ran: it is replaced once.
        """
        import pymysql

        for attempt in (1, 2):
            conn = self._connection()
            # PyMySQL re-applies this socket timeout before every read: the
            # backstop when the server's deadline was lifted and the watchdog is
            # late.
            conn._read_timeout = budget + 2 * GRACE_S + 1.0
            try:
                with conn.cursor() as cur:
                    cur.execute(_deadline_statement(conn, budget))
                    cur.execute("START TRANSACTION READ ONLY")
            except (pymysql.Error, OSError) as exc:
                self._finish(conn, keep=False)
                code = exc.args[0] if exc.args else None
                if attempt == 1 and code in _LOST_CONNECTION_CODES:
                    continue
                raise QueryFailed(f"cannot start the transaction: {exc}") from exc
            return conn
        raise AssertionError("unreachable")  # pragma: no cover

    def _cut(self, conn: Any) -> None:
        # Runs on the watchdog thread: only mark and wake the blocked read.
        self._timed_out = True
        sock = conn._sock
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)

    def _classify(self, exc: BaseException, budget: float) -> SandboxError:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        if (
            self._timed_out
            or code in _TIMEOUT_CODES
            or isinstance(exc, TimeoutError | socket.timeout)
            or (code in _LOST_CONNECTION_CODES and "timed out" in str(exc))
        ):
            return QueryTimeout(f"query exceeded {budget:.3g} s")
        if code in _REFUSED_CODES:
            return QueryRefused(str(exc))
        return QueryFailed(str(exc))

    def _kill_server_thread(self, thread_id: int) -> None:
        # The statement may still run on the server with its deadline lifted.
        import pymysql

        with contextlib.suppress(pymysql.Error, OSError):
            killer = connect(self.address, read_timeout=CONNECT_TIMEOUT_S)
            try:
                with killer.cursor() as cur:
                    cur.execute("KILL CONNECTION %s", (thread_id,))
            finally:
                killer.close()

    def _finish(self, conn: Any, *, keep: bool) -> None:
        import pymysql

        if keep:
            try:
                conn.rollback()
                return
            except pymysql.Error:
                pass
        # Abandon an unread unbuffered result: PyMySQL would otherwise read it to
        # its end when the cursor or result is collected, from a closed socket.
        result = conn._result
        if result is not None:
            result.unbuffered_active = False
        conn._result = None
        # A transaction never outlives a closed connection.
        conn._force_close()
        if self._conn is conn:
            self._conn = None

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn._force_close()
            self._conn = None


class _WireBudget:
    """The connection's reader, refusing to read a result past a byte budget.

    The byte cap counts rows once PyMySQL has built them, and PyMySQL reads a
    whole row first: one row of 100 columns of 15 MB each (every value under
    max_allowed_packet) would be 1.5 GB before the first count. This reader
    counts the bytes of the result as they come off the socket and stops before
    a read that would pass twice the cap (text on the wire is at most about twice
    the size of the same text in Python's count, rarely more).
    """

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._cap: int | None = None
        self._left = 0

    def arm(self, cap: int) -> None:
        """Count from now on, against ``cap`` (the sandbox's byte cap)."""
        self._cap = cap
        self._left = 2 * cap + 65_536

    def disarm(self) -> None:
        """Stop counting (our own statements are not capped)."""
        self._cap = None

    def read(self, size: int) -> bytes:
        """Read ``size`` bytes, or raise ResultTooLarge before reading past it."""
        if self._cap is not None:
            self._left -= size
            if self._left < 0:
                raise ResultTooLarge(self._cap)
        data: bytes = self._raw.read(size)
        return data

    def close(self) -> None:
        """Close the underlying reader."""
        self._raw.close()


def _deadline_statement(conn: Any, budget: float) -> str:
    # A number formatted here, never text from the caller.
    if "mariadb" in conn.get_server_info().lower():
        return f"SET SESSION max_statement_time = {budget:.6f}"
    # MySQL names it max_execution_time, in milliseconds.
    return f"SET SESSION max_execution_time = {max(1, int(budget * 1000))}"
