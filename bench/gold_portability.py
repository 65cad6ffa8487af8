"""How many Spider dev golds, written for SQLite, run on PostgreSQL as they are,
and after `import_goldens --from-dialect sqlite` transpiles them.

Copies the 19 shipped Spider databases to scratch PostgreSQL databases (table and
column names lowercased, each column typed by its values: integers, floats, else
text), reads them through a provisioned SELECT-only role, and prints, for the 972
runnable golds: how many fail on PostgreSQL as written, how many sqlglot cannot
transpile, how many still fail after transpiling, and how many run but return
another result than on SQLite (Spider EX rules). Needs an admin DSN with
CREATEDB and CREATEROLE in DATABASE_URL. Run from the project root:
``DATABASE_URL=postgres://... .venv/bin/python bench/gold_portability.py``.
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import sys
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: E402

from evaluation.dialects import (  # noqa: E402
    SQLGLOT_VERSION,
    TranspileError,
    transpile_sql,
)
from evaluation.scoring import results_equal  # noqa: E402
from evaluation.spider import database_path, load_examples  # noqa: E402
from targets.provisioning import provision_select_only_role  # noqa: E402
from targets.sandbox import PostgresSandbox, SandboxError, SqliteSandbox  # noqa: E402
from targets.sqlgate import SQLRejected, check_sql  # noqa: E402

SPIDER = ROOT / "data" / "spider"


def _dsn(base: str, **changes: str) -> str:
    return make_conninfo("", **{**conninfo_to_dict(base), **changes})


def _pg_type(values: list[object]) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, int) for v in present):
        return "bigint"
    if present and all(isinstance(v, int | float) for v in present):
        return "double precision"
    return "text"


def copy_database(source_file: Path, dsn: str) -> list[str]:
    """Copy every table of a SQLite file; returns the (lowercased) column names."""
    source = sqlite3.connect(source_file)
    source.text_factory = lambda b: b.decode("utf-8", "replace")
    names = [
        r[0]
        for r in source.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%'"
        )
    ]
    all_columns: list[str] = []
    with psycopg.connect(dsn) as conn:
        for table in names:
            cursor = source.execute(f'SELECT * FROM "{table}"')
            columns = [d[0].lower() for d in cursor.description]
            rows = cursor.fetchall()
            all_columns += columns
            spec = sql.SQL(", ").join(
                sql.SQL("{} {}").format(
                    sql.Identifier(c), sql.SQL(_pg_type([r[i] for r in rows]))
                )
                for i, c in enumerate(columns)
            )
            ident = sql.Identifier(table.lower())
            conn.execute(sql.SQL("CREATE TABLE {} ({})").format(ident, spec))
            with conn.cursor().copy(
                sql.SQL("COPY {} FROM STDIN").format(ident)
            ) as writer:
                for row in rows:
                    writer.write_row(row)
    source.close()
    return all_columns


def _run(sandbox: PostgresSandbox | SqliteSandbox, text: str, dialect: str) -> object:
    try:
        return sandbox.run(check_sql(text, dialect=dialect)).rows
    except (SQLRejected, SandboxError) as exc:
        return exc


def _cause(exc: Exception) -> str:
    # The engine's message without names and values: a kind of failure.
    first = str(exc).splitlines()[0]
    return re.sub(r'"[^"]*"|\b\d+\b', "_", first)[:70]


def main() -> None:
    admin = os.environ.get("DATABASE_URL", "")
    if not admin.startswith(("postgres://", "postgresql://")):
        sys.exit("Set DATABASE_URL to a PostgreSQL admin DSN.")
    examples = [
        e
        for e in load_examples(SPIDER / "dev.json")
        if database_path(SPIDER / "database", e.db_id).is_file()
    ]
    suffix = uuid.uuid4().hex[:8]
    role, password = f"loopgate_bench_ro_{suffix}", secrets.token_urlsafe(16)
    created: list[str] = []
    tally: Counter[str] = Counter()
    causes: Counter[str] = Counter()
    try:
        for db in sorted({e.db_id for e in examples}):
            name = f"loopgate_bench_{suffix}_{db}"[:63]
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            created.append(name)
            owner = _dsn(admin, dbname=name)
            columns = copy_database(database_path(SPIDER / "database", db), owner)
            reader = provision_select_only_role(
                admin_dsn=owner, role=role, password=password
            )
            pg = PostgresSandbox(reader.dsn)
            lite = SqliteSandbox(database_path(SPIDER / "database", db))
            try:
                for e in (e for e in examples if e.db_id == db):
                    tally["items"] += 1
                    expected = _run(lite, e.query, "sqlite")
                    if isinstance(_run(pg, e.query, "postgres"), Exception):
                        tally["fail as written"] += 1
                    try:
                        moved = transpile_sql(
                            e.query, read="sqlite", write="postgres", columns=columns
                        )
                    except TranspileError:
                        tally["cannot transpile"] += 1
                        continue
                    got = _run(pg, moved, "postgres")
                    if isinstance(got, Exception):
                        tally["fail after transpiling"] += 1
                        causes[_cause(got)] += 1
                    elif not isinstance(expected, Exception) and not results_equal(
                        expected,  # type: ignore[arg-type]
                        got,  # type: ignore[arg-type]
                        mode="spider",
                        order_matters="order by" in e.query.lower(),
                    ):
                        tally["run, other result"] += 1
            finally:
                pg.close()
                lite.close()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in created:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(name)
                    )
                )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    n = tally["items"]
    print(f"Spider dev golds on PostgreSQL (sqlglot {SQLGLOT_VERSION}): {n} items")
    for key in (
        "fail as written",
        "cannot transpile",
        "fail after transpiling",
        "run, other result",
    ):
        print(f"  {key:24} {tally[key]:5}  ({tally[key] / n:.1%})")
    print("Causes after transpiling:")
    for cause, count in causes.most_common(8):
        print(f"  {count:5}  {cause}")


if __name__ == "__main__":
    main()
