"""A scratch MariaDB copy of Spider's concert_singer, for tests marked mariadb.

Each test module builds its own ``mariadb_cs_*`` database and its SELECT-only
``mariadb_ro_*`` account (through the provisioning under test) and drops both.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from targets.provisioning_mariadb import provision_mariadb_select_only
from targets.sandbox.mariadb import connect, parse_mysql_dsn

SOURCE_DB = (
    Path(__file__).resolve().parents[2]
    / "data/spider/database/concert_singer/concert_singer.sqlite"
)
TABLES = ("concert", "singer", "singer_in_concert", "stadium")


@dataclass(frozen=True)
class Scratch:
    """A scratch database, its admin connection URL and the SELECT-only DSN."""

    admin_url: str
    database: str
    role: str
    password: str
    dsn: str

    def admin(self) -> Any:
        """A fresh connection as the administrator, on the scratch database."""
        return connect(parse_mysql_dsn(f"{self.admin_url}/{self.database}"))

    def scalar(self, sql: str, *args: object) -> Any:
        """The first value of ``sql`` run as the administrator."""
        conn = self.admin()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args or None)
                row = cur.fetchone()
                return row[0] if row else None
        finally:
            conn.close()

    def checksums(self) -> list[Any]:
        """CHECKSUM TABLE of every table: any write changes it."""
        conn = self.admin()
        try:
            with conn.cursor() as cur:
                cur.execute("CHECKSUM TABLE " + ", ".join(TABLES))
                return list(cur.fetchall())
        finally:
            conn.close()

    def running_queries(self) -> int:
        """Statements the role still runs, once a stopped one had time to go."""
        count = 0
        for _ in range(50):
            count = int(
                self.scalar(
                    "SELECT count(*) FROM information_schema.processlist "
                    "WHERE user = %s AND command NOT IN ('Sleep', 'Killed')",
                    self.role,
                )
            )
            if count == 0:
                break
            time.sleep(0.1)
        return count

    def make_account(self, name: str, *grants: str) -> str:
        """Create account ``name`` with ``grants`` ({db}, %s: name); its DSN."""
        conn = self.admin()
        try:
            with conn.cursor() as cur:
                cur.execute("CREATE USER %s@'%%' IDENTIFIED BY 'pw'", (name,))
                for grant in grants:
                    cur.execute(grant.format(db=f"`{self.database}`"), (name,))
        finally:
            conn.close()
        host = parse_mysql_dsn(self.dsn)
        return f"mysql://{name}:pw@{host.host}:{host.port}/{self.database}"

    def drop_account(self, name: str) -> None:
        """Drop account ``name`` if it exists."""
        conn = self.admin()
        try:
            with conn.cursor() as cur:
                cur.execute("DROP USER IF EXISTS %s@'%%'", (name,))
        finally:
            conn.close()


def _column_type(declared: str) -> str:
    declared = declared.lower()
    if "int" in declared:
        return "BIGINT"
    if any(t in declared for t in ("real", "float", "double", "num")):
        return "DOUBLE"
    return "TEXT"


def _copy_from_sqlite(conn: Any, source: Path) -> None:
    with sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True) as lite:
        for table in TABLES:
            columns = lite.execute(f'PRAGMA table_info("{table}")').fetchall()
            ddl = ", ".join(f"`{c[1]}` {_column_type(c[2])}" for c in columns)
            rows = lite.execute(f'SELECT * FROM "{table}"').fetchall()  # noqa: S608
            marks = ", ".join(["%s"] * len(columns))
            with conn.cursor() as cur:
                cur.execute(f"CREATE TABLE `{table}` ({ddl})")
                insert = f"INSERT INTO `{table}` VALUES ({marks})"  # noqa: S608
                cur.executemany(insert, rows)
    conn.commit()


@contextlib.contextmanager
def concert_singer_on_mariadb() -> Iterator[Scratch]:
    """Create the scratch database and account (MARIADB_ADMIN_URL); drop them."""
    admin_url = os.environ["MARIADB_ADMIN_URL"].rstrip("/")
    suffix = uuid.uuid4().hex[:8]
    database, role = f"mariadb_cs_{suffix}", f"mariadb_ro_{suffix}"
    password = uuid.uuid4().hex
    server = connect(parse_mysql_dsn(f"{admin_url}/mysql"))
    try:
        with server.cursor() as cur:
            # Binary collation: text compares as in SQLite, case-sensitively.
            cur.execute(
                f"CREATE DATABASE `{database}` "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
        conn = connect(parse_mysql_dsn(f"{admin_url}/{database}"))
        try:
            _copy_from_sqlite(conn, SOURCE_DB)
        finally:
            conn.close()
        provisioned = provision_mariadb_select_only(
            admin_dsn=f"{admin_url}/{database}", role=role, password=password
        )
        yield Scratch(admin_url, database, role, password, provisioned.dsn)
    finally:
        with server.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
            cur.execute("DROP USER IF EXISTS %s@'%%'", (role,))
        server.close()
