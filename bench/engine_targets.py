"""Load one Spider database into each engine for bench/engines.py.

Reuses `targets.load_plan` and `targets.load_writers` (what `load_target` runs)
and reloads on every run (`replace`), so the report always reads fresh copies.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pymysql
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bench.engine_runners import Runner, SandboxRunner
from targets.load_plan import LoadPlan
from targets.load_writers import (
    mariadb_params,
    write_duckdb,
    write_mariadb,
    write_pg,
)
from targets.provisioning import provision_select_only_role
from targets.provisioning_mariadb import provision_mariadb_select_only
from targets.sandbox import PostgresSandbox, sandbox_for

ROOT = Path(__file__).resolve().parent.parent
DUCKDB_DIR = ROOT / "var" / "engines"
_PASSWORD = secrets.token_urlsafe(18)


def _pg_admin() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else ""


ENGINES: dict[str, Callable[[], bool]] = {
    "postgresql": lambda: bool(_pg_admin()),
    "mariadb": lambda: bool(os.environ.get("MARIADB_ADMIN_URL")),
    "duckdb": lambda: True,
}


def _schema(plan: LoadPlan) -> dict[str, list[str]]:
    return {t.name: [c.name for c in t.columns] for t in plan.tables}


def _postgres(db: str, plan: LoadPlan) -> Runner:
    admin = conninfo_to_dict(_pg_admin())
    base = str(admin.get("dbname") or "loopgate")
    name = f"{base}_eng_{db.lower()}"[:63]
    with psycopg.connect(make_conninfo("", **admin), autocommit=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if found is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    owner = make_conninfo("", **{**admin, "dbname": name})
    write_pg(plan, dsn=owner, replace=True)
    reader = provision_select_only_role(
        admin_dsn=owner, role=f"{base}_eng_ro"[:63], password=_PASSWORD
    )
    return SandboxRunner(PostgresSandbox(reader.dsn), "postgres")


def _mariadb(db: str, plan: LoadPlan) -> Runner:
    # The URL's database, if any, only names the prefix of the copies.
    url = urlsplit(os.environ["MARIADB_ADMIN_URL"])
    base = url.path.strip("/") or "loadtarget"
    name = f"{base}_eng_{db.lower()}"[:64]
    owner = urlunsplit((url.scheme, url.netloc, f"/{name}", "", ""))
    admin = mariadb_params(owner)
    admin.pop("database")
    conn = pymysql.connect(**admin, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{name}`")
    finally:
        conn.close()
    write_mariadb(plan, dsn=owner, replace=True)
    # One reader per database: the sandbox refuses a login granted more.
    # MariaDB names hold at most 32 characters.
    role = f"{base[:16]}_ro_{hashlib.sha256(db.encode()).hexdigest()[:8]}"
    reader = provision_mariadb_select_only(
        admin_dsn=owner, role=role, password=_PASSWORD
    )
    return SandboxRunner(sandbox_for("mariadb", reader.dsn), "mysql")


def _duckdb(db: str, plan: LoadPlan) -> Runner:
    path = DUCKDB_DIR / f"{db}.duckdb"
    write_duckdb(plan, path=path, replace=True)
    return SandboxRunner(sandbox_for("duckdb", path), "duckdb")


_DIALECTS = {"postgresql": "postgres", "mariadb": "mysql", "duckdb": "duckdb"}
_LOADERS: dict[str, Callable[[str, LoadPlan], Runner]] = {
    "postgresql": _postgres,
    "mariadb": _mariadb,
    "duckdb": _duckdb,
}


def engine_runner(
    engine: str, db: str, plan: LoadPlan
) -> tuple[str, dict[str, list[str]], Runner]:
    """Load `plan` (Spider db `db`) into `engine`; its dialect, schema and runner."""
    return _DIALECTS[engine], _schema(plan), _LOADERS[engine](db, plan)
