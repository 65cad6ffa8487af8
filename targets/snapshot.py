"""Copy an engine target's tables into a SQLite file (Django-free).

The reverse of `targets.load_plan`: test-suite neighbours are generated from
SQLite files, so a PostgreSQL, MariaDB or DuckDB target is first read into one,
as its owner (or, for DuckDB, from its file opened read-only). Each column keeps
its kind (INTEGER, REAL, TEXT or BLOB: the kinds a load gives it), primary keys
and foreign keys are declared as the engine holds them, and rows are written in
a fixed order so that the same content always gives the same file bytes, hence
the same neighbours.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pymysql

from targets.load_writers import mariadb_params

__all__ = ["SnapshotError", "snapshot_to_sqlite"]

_READ_ERRORS = (psycopg.Error, pymysql.Error, duckdb.Error, sqlite3.Error, OSError)

_PG_KEYS = """
SELECT c.contype, t.relname, p.relname,
  ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k(n, i)
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
        ORDER BY k.i),
  ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY AS k(n, i)
        JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n
        ORDER BY k.i)
FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
LEFT JOIN pg_class p ON p.oid = c.confrelid
WHERE c.contype IN ('p', 'f') AND c.connamespace = 'public'::regnamespace
ORDER BY c.conname
"""
_MARIADB_KEYS = """
SELECT IF(constraint_name = 'PRIMARY', 'p', 'f'), table_name, constraint_name,
  column_name, referenced_table_name, referenced_column_name
FROM information_schema.key_column_usage
WHERE table_schema = DATABASE()
  AND (constraint_name = 'PRIMARY' OR referenced_table_name IS NOT NULL)
ORDER BY table_name, constraint_name, ordinal_position
"""
_DUCKDB_KEYS = """
SELECT IF(constraint_type = 'PRIMARY KEY', 'p', 'f'), table_name, referenced_table,
  constraint_column_names, referenced_column_names
FROM duckdb_constraints()
WHERE schema_name = 'main' AND constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')
ORDER BY table_name, constraint_index
"""
_COLUMNS = """
SELECT c.table_name, c.column_name, c.data_type
FROM information_schema.columns c JOIN information_schema.tables t
  ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE c.table_schema = {schema} AND t.table_type = 'BASE TABLE'
ORDER BY c.table_name, c.ordinal_position
"""


class SnapshotError(Exception):
    """The target could not be read."""


@dataclass
class _Table:
    columns: list[tuple[str, str]] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    foreign_keys: list[tuple[list[str], str, list[str]]] = field(default_factory=list)


_INTEGER = re.compile(
    r"u?(tiny|small|medium|big|huge)?int(eger)?\d*( unsigned)?|(big|small)?serial"
    r"|bool(ean)?"
)


def _kind(data_type: str) -> str:
    text = data_type.lower().strip()
    if _INTEGER.fullmatch(text):
        return "INTEGER"
    if any(word in text for word in ("double", "real", "float", "numeric", "decimal")):
        return "REAL"
    if any(word in text for word in ("bytea", "blob", "binary")):
        return "BLOB"
    return "TEXT"


def _plain(value: Any) -> Any:
    """A value SQLite stores as the engine showed it."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return str(value)
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _backtick(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _catalog(
    columns: list[tuple[Any, ...]], keys: list[tuple[Any, ...]]
) -> dict[str, _Table]:
    tables: dict[str, _Table] = {}
    for table, column, data_type in columns:
        tables.setdefault(table, _Table()).columns.append((column, _kind(data_type)))
    for kind, table, parent, own, referenced in keys:
        if table not in tables:
            continue
        if kind == "p":
            tables[table].primary_key = list(own)
        elif parent in tables:
            tables[table].foreign_keys.append((list(own), parent, list(referenced)))
    return tables


def _mariadb_keys(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """One entry per constraint from MariaDB's one row per key column."""
    grouped: dict[tuple[str, str], tuple[str, str, str | None, list[str], list[str]]]
    grouped = {}
    for kind, table, name, column, parent, parent_column in rows:
        entry = grouped.setdefault((table, name), (kind, table, parent, [], []))
        entry[3].append(column)
        if parent_column is not None:
            entry[4].append(parent_column)
    return list(grouped.values())


Reader = Callable[[str], list[tuple[Any, ...]]]


def _read(engine: str, location: str | Path, write: Callable[[Reader], None]) -> None:
    """Open the engine as ``location`` says and hand ``write`` a query function."""
    if engine == "postgresql":
        with psycopg.connect(str(location), connect_timeout=10) as conn:
            conn.read_only = True
            write(lambda sql: conn.execute(sql.encode()).fetchall())
    elif engine == "mariadb":
        mconn = pymysql.connect(**mariadb_params(str(location)))
        try:
            cur = mconn.cursor()
            cur.execute("SET SESSION TRANSACTION READ ONLY")

            def query(sql: str) -> list[tuple[Any, ...]]:
                cur.execute(sql)
                return list(cur.fetchall())

            write(query)
        finally:
            mconn.close()
    elif engine == "duckdb":
        with duckdb.connect(str(location), read_only=True) as dconn:
            write(lambda sql: dconn.execute(sql).fetchall())
    else:
        raise SnapshotError(f"cannot snapshot a {engine} target")


def snapshot_to_sqlite(*, engine: str, location: str | Path, dest: Path) -> None:
    """Write every base table of the target to a new SQLite file ``dest``.

    ``location`` is the owner's DSN (PostgreSQL, MariaDB ``mysql://`` URL) or
    the DuckDB file. Reads only. Raises SnapshotError when the engine refuses.
    """
    out = sqlite3.connect(dest)

    def write(query: Reader) -> None:
        schema = {
            "postgresql": "'public'",
            "mariadb": "DATABASE()",
            "duckdb": "'main'",
        }[engine]
        columns = query(_COLUMNS.format(schema=schema))
        if engine == "postgresql":
            keys = query(_PG_KEYS)
        elif engine == "mariadb":
            keys = _mariadb_keys(query(_MARIADB_KEYS))
        else:
            keys = query(_DUCKDB_KEYS)
        tables = _catalog(columns, keys)
        for name, table in sorted(tables.items()):
            out.execute(_create(name, table))
            ident = _backtick if engine == "mariadb" else _quote
            names = ", ".join(ident(c) for c, _ in table.columns)
            select = f"SELECT {names} FROM {ident(name)}"  # noqa: S608
            rows = [tuple(_plain(v) for v in row) for row in query(select)]
            rows.sort(key=repr)
            marks = ", ".join("?" for _ in table.columns)
            out.executemany(
                f"INSERT INTO {_quote(name)} VALUES ({marks})",  # noqa: S608
                rows,
            )

    try:
        _read(engine, location, write)
        out.commit()
    except SnapshotError:
        out.close()
        dest.unlink(missing_ok=True)
        raise
    except _READ_ERRORS as exc:
        out.close()
        dest.unlink(missing_ok=True)
        raise SnapshotError(f"cannot read the {engine} target: {exc}") from None
    out.close()


def _create(name: str, table: _Table) -> str:
    parts = [f"{_quote(c)} {kind}" for c, kind in table.columns]
    if table.primary_key:
        parts.append(f"PRIMARY KEY ({', '.join(map(_quote, table.primary_key))})")
    for own, parent, referenced in table.foreign_keys:
        target = f" ({', '.join(map(_quote, referenced))})" if referenced else ""
        parts.append(
            f"FOREIGN KEY ({', '.join(map(_quote, own))}) "
            f"REFERENCES {_quote(parent)}{target}"
        )
    return f"CREATE TABLE {_quote(name)} ({', '.join(parts)})"
