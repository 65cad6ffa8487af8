"""Scratch PostgreSQL databases for the sandbox tests."""

import uuid
from collections.abc import Iterator

import pytest

from tests.helpers import admin_dsn, with_dbname


@pytest.fixture
def pg_scratch() -> Iterator[tuple[str, str]]:
    """A scratch database with table t, and the DSN of a SELECT-only role."""
    import psycopg
    from psycopg import sql

    admin = admin_dsn()
    suffix = uuid.uuid4().hex[:10]
    dbname, role = f"loopgate_sbx_{suffix}", f"loopgate_ro_{suffix}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        with psycopg.connect(with_dbname(admin, dbname), autocommit=True) as conn:
            ident = sql.Identifier(role)
            conn.execute("CREATE TABLE t (id int PRIMARY KEY, name text)")
            conn.execute(
                "INSERT INTO t SELECT g, 'n' || g FROM generate_series(1, 5) g"
            )
            conn.execute(
                sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(
                    sql.Identifier(dbname)
                )
            )
            conn.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
            conn.execute(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                    sql.Identifier(dbname), ident
                )
            )
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
            conn.execute(sql.SQL("GRANT SELECT ON t TO {}").format(ident))
        yield admin, with_dbname(admin, dbname, user=role)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(dbname)
                )
            )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
