"""SQLite sandbox: read-only URI, an authorizer, limits and a deadline.

``mode=ro`` protects only the main file and ``PRAGMA query_only`` can be switched
off by the query itself (docs/security-notes.md), so the boundary is an authorizer
that allows reads only, no attached databases, lowered length limits, a bounded
``printf``, a byte cap on the result and a deadline. The progress handler is not
called inside a sorter or a window step, so the shared watchdog interrupts the
connection as well.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from targets.sandbox.base import (
    DEFAULT_MAX_RESULT_BYTES,
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    MAX_SQL_LENGTH,
    MAX_VALUE_LENGTH,
    WATCHDOG,
    QueryFailed,
    QueryRefused,
    QueryResult,
    QueryTimeout,
    SandboxError,
    SandboxMisconfigured,
    fetch_within,
)

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
        max_bytes: int = DEFAULT_MAX_RESULT_BYTES,
        progress_steps: int = 1_000,
    ) -> None:
        """Open ``path`` read-only and install the authorizer, limits and deadline."""
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise SandboxMisconfigured(f"no SQLite database at {self.path}")
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.max_bytes = max_bytes
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
        self,
        sql: str,
        *,
        timeout_s: float | None = None,
        max_rows: int | None = None,
        max_bytes: int | None = None,
    ) -> QueryResult:
        """Run one statement within its deadline and caps, or raise SandboxError."""
        conn = self._conn
        if conn is None:
            raise SandboxMisconfigured("sandbox is closed")
        if len(sql) > MAX_SQL_LENGTH:
            raise QueryRefused(f"SQL longer than {MAX_SQL_LENGTH} characters")
        limit = self.max_rows if max_rows is None else max_rows
        cap = self.max_bytes if max_bytes is None else max_bytes
        budget = self.timeout_s if timeout_s is None else timeout_s
        started = time.monotonic()
        self._deadline = started + budget
        ticket = WATCHDOG.arm(self._deadline, conn.interrupt)
        cursor = conn.cursor()
        try:
            cursor.execute(sql)
            rows, truncated = fetch_within(
                cursor.fetchmany, max_rows=limit, max_bytes=cap
            )
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
            WATCHDOG.disarm(ticket)
            # Resetting the statement releases its read lock even when truncated.
            cursor.close()
            self._deadline = 0.0
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
