"""Where target databases live and what their schemas are."""

import os
import re
import sqlite3
from collections.abc import Mapping
from pathlib import Path

import psycopg
import pymysql
from django.conf import settings

from targets.sandbox import DuckDBSandbox, SandboxError
from targets.sandbox.mariadb import connect, parse_mysql_dsn
from targets.sandbox.mariadb_grants import verify_select_only

# Remote callers (the API) may only name DSN variables with this prefix, so that no
# one can point a target at the control plane's own DATABASE_URL.
DSN_VARIABLE_PREFIX = "LOOPGATE_TARGET_"
_DSN_VARIABLE = re.compile(rf"^{DSN_VARIABLE_PREFIX}[A-Z0-9_]+$")
# Engines whose location is a database file (relative paths under the root).
FILE_ENGINES = frozenset({"sqlite", "duckdb"})
# Base tables of the opened file's main schema, columns in declaration order.
_DUCKDB_COLUMNS = (
    "SELECT c.table_name, c.column_name FROM information_schema.columns c "
    "JOIN information_schema.tables t ON t.table_catalog = c.table_catalog "
    "AND t.table_schema = c.table_schema AND t.table_name = c.table_name "
    "WHERE t.table_type = 'BASE TABLE' AND c.table_schema = 'main' "
    "AND c.table_catalog = current_database() "
    "ORDER BY c.table_name, c.ordinal_position"
)
_DUCKDB_MAX_COLUMNS = 100_000


class SchemaCaptureError(Exception):
    """The target database could not be opened or read."""


def sqlite_path(location: str) -> Path:
    """Resolve a SQLite or DuckDB file location; relative paths live under
    TARGET_DATABASE_ROOT."""
    path = Path(location)
    return path if path.is_absolute() else Path(settings.TARGET_DATABASE_ROOT) / path


def postgres_dsn(location: str) -> str:
    """Read the DSN from the environment variable the record names."""
    dsn = os.environ.get(location, "")
    if not dsn:
        raise SchemaCaptureError(
            f"Environment variable {location!r} holding the DSN is not set."
        )
    return dsn


def capture_schema(*, engine: str, location: str) -> dict[str, list[str]]:
    """Return {table: [column, ...]} for the target database, read-only."""
    if engine == "duckdb":
        return _duckdb_schema(sqlite_path(location))
    if engine == "sqlite":
        path = sqlite_path(location)
        try:
            found = path.is_file()
        except (OSError, ValueError):
            found = False
        if not found:
            raise SchemaCaptureError(f"No SQLite file at {path}.")
        try:
            with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as conn:
                tables = [
                    row[0]
                    for row in conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table' "
                        "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                    )
                ]
                return {
                    table: [
                        row[1]
                        for row in conn.execute(
                            "SELECT * FROM pragma_table_info(?)", (table,)
                        )
                    ]
                    for table in tables
                }
        except sqlite3.Error as exc:
            raise SchemaCaptureError(f"Cannot read {path}: {exc}") from None
    if engine == "mariadb":
        return _mariadb_schema(postgres_dsn(location))
    try:
        with psycopg.connect(postgres_dsn(location), connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
            ).fetchall()
    except psycopg.Error as exc:
        raise SchemaCaptureError(f"Cannot read the PostgreSQL target: {exc}") from None
    schema: dict[str, list[str]] = {}
    for table, column in rows:
        schema.setdefault(table, []).append(column)
    return schema


def _mariadb_schema(dsn: str) -> dict[str, list[str]]:
    try:
        address = parse_mysql_dsn(dsn)
        conn = connect(address, read_timeout=30)
    except (SandboxError, pymysql.Error) as exc:
        raise SchemaCaptureError(f"Cannot read the MariaDB target: {exc}") from None
    try:
        # A target whose account may write would refuse every query later on.
        verify_select_only(conn, address.database)
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = DATABASE() "
                "ORDER BY table_name, ordinal_position"
            )
            rows = cur.fetchall()
    except (SandboxError, pymysql.Error) as exc:
        raise SchemaCaptureError(f"Cannot read the MariaDB target: {exc}") from None
    finally:
        conn.close()
    schema: dict[str, list[str]] = {}
    for table, column in rows:
        schema.setdefault(str(table), []).append(str(column))
    return schema


def _duckdb_schema(path: Path) -> dict[str, list[str]]:
    # Through the sandbox: DuckDB refuses a second connection to a file with other
    # settings in the same process, and it never creates a missing file.
    try:
        sandbox = DuckDBSandbox(path, max_rows=_DUCKDB_MAX_COLUMNS)
    except (SandboxError, OSError, ValueError) as exc:
        raise SchemaCaptureError(f"No readable DuckDB file at {path}: {exc}") from None
    try:
        result = sandbox.run(_DUCKDB_COLUMNS)
    except SandboxError as exc:
        raise SchemaCaptureError(f"Cannot read {path}: {exc}") from None
    finally:
        sandbox.close()
    if result.truncated:
        raise SchemaCaptureError(f"{path} has more than {_DUCKDB_MAX_COLUMNS} columns.")
    schema: dict[str, list[str]] = {}
    for table, column in result.rows:
        schema.setdefault(table, []).append(column)
    return schema


def remote_location_problem(*, engine: str, location: str) -> str | None:
    """Why a remote caller may not register ``location``, or None when it may.

    SQLite and DuckDB: a relative path that stays under TARGET_DATABASE_ROOT (an
    absolute path could name the control plane's own database file). PostgreSQL
    and MariaDB: the name of a ``LOOPGATE_TARGET_*`` environment variable.
    """
    if engine in FILE_ENGINES:
        if Path(location).is_absolute():
            return "Give a path relative to TARGET_DATABASE_ROOT."
        root = Path(settings.TARGET_DATABASE_ROOT).resolve()
        try:
            inside = sqlite_path(location).resolve().is_relative_to(root)
        except (OSError, ValueError):
            # A name too long for the file system, or a NUL in it.
            return "Not a usable file path."
        if not inside:
            return "The path leaves TARGET_DATABASE_ROOT."
        return None
    if not _DSN_VARIABLE.match(location):
        return (
            f"Name an environment variable {DSN_VARIABLE_PREFIX}<NAME> "
            "(capitals, digits, underscores) holding the DSN."
        )
    return None


def sqlglot_schema(schema: Mapping[str, list[str]]) -> dict[str, dict[str, str]]:
    """A captured {table: [column]} schema in the shape sqlglot qualifies with.

    Types are not captured; qualification only needs names.
    """
    return {table: dict.fromkeys(cols, "unknown") for table, cols in schema.items()}
