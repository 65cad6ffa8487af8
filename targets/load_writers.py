"""Create a planned SQLite copy on PostgreSQL, DuckDB or MariaDB.

Each writer creates the tables in the plan's order with their kept primary
keys, foreign keys and NOT NULL constraints, copies the rows and returns the
schema ({table: [columns]}) read back from the engine. Names keep SQLite's
spelling, except on PostgreSQL, where they are lowercased: PostgreSQL folds
unquoted names to lowercase, so `SELECT Name FROM Singer` resolves only then.
Text compares and sorts bytewise on every engine (PostgreSQL `COLLATE "C"`,
MariaDB `utf8mb4_nopad_bin`: no trailing-space padding, DuckDB's default), as in SQLite.

A target that already holds a table of the plan is refused unless `replace`;
PostgreSQL replaces in one transaction, DuckDB writes a new file and renames it
over the old one, MariaDB (no transactional DDL) drops and recreates.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import duckdb
import psycopg
import pymysql
from psycopg import sql

from targets.load_plan import Coercion, LoadPlan, TablePlan
from targets.load_values import BINARY, INTEGER, REAL

__all__ = ["LoadError", "mariadb_params", "write_duckdb", "write_mariadb", "write_pg"]

Schema = dict[str, list[str]]


class LoadError(Exception):
    """The target refused the copy, or already holds the tables."""


def _refuse(existing: Sequence[str]) -> LoadError:
    return LoadError(
        f"The target already holds {sorted(existing)}: pass replace to load again."
    )


def _ddl(
    table: TablePlan,
    *,
    quote: Callable[[str], str],
    name: Callable[[str], str],
    types: dict[str, str],
) -> str:
    parts = [
        f"{quote(name(c.name))} {types[c.kind]}" + (" NOT NULL" if c.not_null else "")
        for c in table.columns
    ]
    if table.primary_key:
        keys = ", ".join(quote(name(c)) for c in table.primary_key)
        parts.append(f"PRIMARY KEY ({keys})")
    for fk in table.foreign_keys:
        cols = ", ".join(quote(name(c)) for c in fk.columns)
        refs = ", ".join(quote(name(c)) for c in fk.ref_columns)
        parts.append(
            f"FOREIGN KEY ({cols}) REFERENCES {quote(name(fk.ref_table))} ({refs})"
        )
    return f"CREATE TABLE {quote(name(table.name))} ({', '.join(parts)})"


def _pg_quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_PG_TYPES = {
    INTEGER: "bigint",
    REAL: "double precision",
    "text": 'text COLLATE "C"',
    BINARY: "bytea",
}


def _pg_rows(table: TablePlan, coercions: list[Coercion]) -> list[tuple[Any, ...]]:
    # PostgreSQL text cannot hold NUL characters.
    texts = [i for i, c in enumerate(table.columns) if c.kind == "text"]
    if not any(
        isinstance(row[i], str) and "\x00" in row[i]
        for row in table.rows
        for i in texts
    ):
        return table.rows
    rows = []
    for row in table.rows:
        values = list(row)
        for i in texts:
            if isinstance(values[i], str) and "\x00" in values[i]:
                values[i] = values[i].replace("\x00", "")
                coercions.append(
                    Coercion(table.name, table.columns[i].name, "NUL removed", 1)
                )
        rows.append(tuple(values))
    return rows


def write_pg(plan: LoadPlan, *, dsn: str, replace: bool) -> Schema:
    """Load `plan` into the `public` schema of `dsn` (its owner) by COPY."""
    names = [t.name.lower() for t in plan.tables]
    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn, conn.transaction():
            existing = [
                row[0]
                for row in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename = ANY(%s)",
                    (names,),
                )
            ]
            if existing and not replace:
                raise _refuse(existing)
            for table_name in reversed(names):
                conn.execute(
                    sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(
                        sql.Identifier(table_name)
                    )
                )
            for table in plan.tables:
                ddl = _ddl(table, quote=_pg_quote, name=str.lower, types=_PG_TYPES)
                conn.execute(ddl.encode())
                copy = sql.SQL("COPY {} FROM STDIN").format(
                    sql.Identifier(table.name.lower())
                )
                with conn.cursor().copy(copy) as writer:
                    for row in _pg_rows(table, plan.coercions):
                        writer.write_row(row)
            rows = conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
            ).fetchall()
    except psycopg.Error as exc:
        raise LoadError(f"PostgreSQL refused the load: {exc}") from None
    schema: Schema = {}
    for table_name, column in rows:
        schema.setdefault(table_name, []).append(column)
    return schema


_DUCKDB_BATCH = 256
_DUCK_TYPES = {INTEGER: "BIGINT", REAL: "DOUBLE", "text": "VARCHAR", BINARY: "BLOB"}


def _duckdb_insert(conn: duckdb.DuckDBPyConnection, table: TablePlan) -> None:
    # executemany binds one row per statement (48 s for world_1's 4,079 cities);
    # a multi-row VALUES list binds a batch at once.
    row_marks = "(" + ", ".join("?" for _ in table.columns) + ")"
    for start in range(0, len(table.rows), _DUCKDB_BATCH):
        batch = table.rows[start : start + _DUCKDB_BATCH]
        marks = ", ".join(row_marks for _ in batch)
        conn.execute(
            f"INSERT INTO {_pg_quote(table.name)} VALUES {marks}",  # noqa: S608
            [value for row in batch for value in row],
        )


def write_duckdb(plan: LoadPlan, *, path: Path, replace: bool) -> Schema:
    """Write `plan` to a new DuckDB file at `path`, atomically replacing it."""
    if path.exists() and not replace:
        raise LoadError(f"{path} exists: pass replace to load again.")
    scratch = path.with_name(f".{path.name}.{os.getpid()}.loading")
    with contextlib.suppress(FileNotFoundError):
        scratch.unlink()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(scratch)) as conn:
            for table in plan.tables:
                conn.execute(_ddl(table, quote=_pg_quote, name=str, types=_DUCK_TYPES))
                _duckdb_insert(conn, table)
            conn.execute("CHECKPOINT")
            rows = conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
            ).fetchall()
        if replace:
            os.replace(scratch, path)
        else:
            # Atomic create-if-absent: a concurrent first load is refused here.
            os.link(scratch, path)
    except FileExistsError:
        raise LoadError(f"{path} exists: pass replace to load again.") from None
    except (duckdb.Error, OSError) as exc:
        raise LoadError(f"DuckDB refused the load: {exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            scratch.unlink()
        with contextlib.suppress(FileNotFoundError):
            Path(f"{scratch}.wal").unlink()
    schema: Schema = {}
    for table_name, column in rows:
        schema.setdefault(table_name, []).append(column)
    return schema


def mariadb_params(dsn: str) -> dict[str, Any]:
    """PyMySQL connection arguments of a `mysql://user:pass@host:port/db` DSN."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("mysql", "mariadb") or not parts.path.strip("/"):
        raise LoadError("A MariaDB DSN looks like mysql://user:pass@host:port/db.")
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "database": unquote(parts.path.strip("/")),
        "charset": "utf8mb4",
        "connect_timeout": 10,
    }


def _mariadb_types(table: TablePlan) -> dict[str, str]:
    # InnoDB keys need bounded columns: VARCHAR when every value fits.
    return {
        INTEGER: "BIGINT",
        REAL: "DOUBLE",
        BINARY: "LONGBLOB",
        "text": "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin",
        "long": "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin",
    }


def _mariadb_quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _mariadb_table(table: TablePlan) -> TablePlan:
    columns = []
    for index, column in enumerate(table.columns):
        longest = max(
            (len(row[index]) for row in table.rows if isinstance(row[index], str)),
            default=0,
        )
        kind = "long" if column.kind == "text" and longest > 255 else column.kind
        columns.append(
            type(column)(column.name, column.declared, kind, column.not_null)
        )
    return TablePlan(
        table.name, columns, table.primary_key, table.foreign_keys, table.rows
    )


def write_mariadb(plan: LoadPlan, *, dsn: str, replace: bool) -> Schema:
    """Load `plan` into the database of `dsn` (its owner) with executemany."""
    params = mariadb_params(dsn)
    try:
        conn = pymysql.connect(**params)
    except pymysql.MySQLError as exc:
        raise LoadError(f"MariaDB refused the connection: {exc}") from None
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = DATABASE()"
            )
            present = {row[0] for row in cur.fetchall()}
            existing = [t.name for t in plan.tables if t.name in present]
            if existing and not replace:
                raise _refuse(existing)
            cur.execute("SET FOREIGN_KEY_CHECKS = 0")
            for table in reversed(plan.tables):
                cur.execute(f"DROP TABLE IF EXISTS {_mariadb_quote(table.name)}")
            cur.execute("SET FOREIGN_KEY_CHECKS = 1")
            for table in plan.tables:
                shaped = _mariadb_table(table)
                types = _mariadb_types(shaped)
                cur.execute(
                    _ddl(shaped, quote=_mariadb_quote, name=str, types=types)
                    + " ENGINE=InnoDB"
                )
                if table.rows:
                    marks = ", ".join("%s" for _ in table.columns)
                    cur.executemany(
                        f"INSERT INTO {_mariadb_quote(table.name)} VALUES ({marks})",  # noqa: S608
                        table.rows,
                    )
            conn.commit()
            cur.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position"
            )
            rows = cur.fetchall()
    except pymysql.MySQLError as exc:
        raise LoadError(f"MariaDB refused the load: {exc}") from None
    finally:
        conn.close()
    schema: Schema = {}
    for table_name, column in rows:
        schema.setdefault(table_name, []).append(column)
    return schema
