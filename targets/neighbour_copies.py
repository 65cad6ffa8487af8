"""Test-suite neighbours of an engine target, loaded next to it as its owner.

Django-free (bench/suite_engine.py builds DuckDB neighbours with it).

PostgreSQL and MariaDB get one database per neighbour, named
``<target database>__nb<n>`` (`neighbour_database`), on the same server; the
target's SELECT-only reader is given SELECT there and nothing more, so the
sandbox runs neighbours with the same credentials and the same checks. DuckDB
gets one file per neighbour, opened read-only by its sandbox like the target.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from targets.load_plan import plan_load
from targets.load_writers import write_duckdb, write_mariadb, write_pg
from targets.provisioning import ProvisioningError, provision_select_only_role
from targets.sandbox import DuckDBSandbox, MariaDBSandbox, PostgresSandbox, Sandbox
from targets.sandbox.mariadb_grants import neighbour_database

__all__ = [
    "drop_neighbour_copies",
    "dsn_database",
    "grant_neighbours",
    "load_neighbour_copies",
    "neighbour_database",
    "neighbour_sandbox",
    "repoint",
]

# PostgreSQL cuts identifiers at 63 bytes, MariaDB refuses names past 64.
_MAX_NAME = 63


def dsn_database(engine: str, dsn: str) -> str:
    """The database a PostgreSQL conninfo or a ``mysql://`` URL names."""
    if engine == "mariadb":
        return urlsplit(dsn).path.strip("/")
    return str(conninfo_to_dict(dsn).get("dbname") or "")


def repoint(engine: str, dsn: str, database: str) -> str:
    """The same DSN (same login) naming another database on the same server."""
    if engine == "mariadb":
        parts = urlsplit(dsn)
        path = "/" + quote(database, safe="")
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    return make_conninfo(dsn, dbname=database)


def _reader(engine: str, reader_dsn: str) -> tuple[str, str]:
    if engine == "mariadb":
        parts = urlsplit(reader_dsn)
        return parts.username or "", parts.password or ""
    given = conninfo_to_dict(reader_dsn)
    return str(given.get("user") or ""), str(given.get("password") or "")


def _database_ddl(engine: str, owner_dsn: str, name: str, *, create: bool) -> None:
    """Create database `name` next to the owner's if it is missing, or drop it if
    it is there, as the owner. Raises ProvisioningError naming it."""
    import psycopg
    import pymysql

    verb = "CREATE" if create else "DROP"
    try:
        if engine == "mariadb":
            from targets.load_writers import mariadb_params

            params = mariadb_params(owner_dsn)
            params.pop("database")
            mconn = pymysql.connect(**params, autocommit=True)
            try:
                with mconn.cursor() as cur:
                    guard = "IF NOT EXISTS" if create else "IF EXISTS"
                    cur.execute(f"{verb} DATABASE {guard} `{name}`")
            finally:
                mconn.close()
            return
        from psycopg import sql

        with psycopg.connect(owner_dsn, autocommit=True, connect_timeout=10) as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if (found is None) == create:
                conn.execute(
                    sql.SQL(f"{verb} DATABASE {{}}").format(sql.Identifier(name))
                )
    except (psycopg.Error, pymysql.Error) as exc:
        action = "Creating" if create else "Dropping"
        raise ProvisioningError(f"{action} database {name} failed: {exc}") from None


def _grant_mariadb(owner_dsn: str, database: str, role: str) -> None:
    import pymysql

    from targets.load_writers import mariadb_params
    from targets.provisioning_mariadb import ACCOUNT_HOST, database_grant_pattern

    params = mariadb_params(owner_dsn)
    params.pop("database")
    conn = pymysql.connect(**params, autocommit=True)
    try:
        with conn.cursor() as cur:
            pattern = database_grant_pattern(database).replace("%", "%%")
            cur.execute(f"GRANT SELECT ON {pattern}.* TO %s@%s", (role, ACCOUNT_HOST))
    except pymysql.Error as exc:
        raise ProvisioningError(f"Granting {database} failed: {exc}") from None
    finally:
        conn.close()


def load_neighbour_copies(
    *,
    engine: str,
    sources: Sequence[Path],
    owner_dsn: str,
    reader_dsn: str,
    folder: Path,
) -> list[str]:
    """Load each SQLite neighbour into ``engine``; return where each now lives.

    Run as the owner of the target database ``owner_dsn`` names (PostgreSQL,
    MariaDB), who may create databases; the reader ``reader_dsn`` names gets
    SELECT on each new one. DuckDB files go to ``folder/<n>.duckdb``. Idempotent:
    existing neighbour tables are replaced. Raises LoadError, ProvisioningError
    or the driver's errors.
    """
    if engine == "duckdb":
        out = []
        for number, source in enumerate(sources, start=1):
            path = folder / f"{number}.duckdb"
            write_duckdb(plan_load(source), path=path, replace=True)
            out.append(str(path))
        return out
    names = _names(engine, owner_dsn, len(sources))
    for name, source in zip(names, sources, strict=True):
        _database_ddl(engine, owner_dsn, name, create=True)
        dsn = repoint(engine, owner_dsn, name)
        if engine == "mariadb":
            write_mariadb(plan_load(source), dsn=dsn, replace=True)
        else:
            write_pg(plan_load(source), dsn=dsn, replace=True)
    grant_neighbours(
        engine=engine, names=names, owner_dsn=owner_dsn, reader_dsn=reader_dsn
    )
    return names


def drop_neighbour_copies(
    *, engine: str, locations: Sequence[str], owner_dsn: str, folder: Path
) -> None:
    """Remove neighbours a rebuild no longer lists (a lower ``--count``).

    Only the target's own family is touched: ``<target database>__nb<n>`` on
    PostgreSQL and MariaDB, ``folder/<n>.duckdb`` for DuckDB; any other name
    (a manifest edited by hand) raises ProvisioningError before anything is
    dropped. Run as the owner, like the build.
    """
    base = "" if engine == "duckdb" else dsn_database(engine, owner_dsn)
    for location in locations:
        if not _in_family(engine, location, base, folder):
            raise ProvisioningError(f"{location!r} is not a neighbour of this target.")
    for location in locations:
        if engine == "duckdb":
            Path(location).unlink(missing_ok=True)
        else:
            _database_ddl(engine, owner_dsn, location, create=False)


def _in_family(engine: str, location: str, base: str, folder: Path) -> bool:
    """Whether `location` is exactly where neighbour n of this target lives."""
    found = re.search(r"([1-9][0-9]*)(\.duckdb)?$", location)
    if found is None:
        return False
    number = int(found.group(1))
    if engine == "duckdb":
        return location == str(folder / f"{number}.duckdb")
    return bool(base) and location == neighbour_database(base, number)


def _names(engine: str, owner_dsn: str, count: int) -> list[str]:
    base = dsn_database(engine, owner_dsn)
    names = [neighbour_database(base, n) for n in range(1, count + 1)]
    if not base or len(names[-1]) > _MAX_NAME:
        raise ProvisioningError(
            f"Neighbour database names of {base!r} would pass {_MAX_NAME} characters."
        )
    return names


def grant_neighbours(
    *, engine: str, names: Sequence[str], owner_dsn: str, reader_dsn: str
) -> None:
    """Give the reader ``reader_dsn`` names SELECT on each neighbour database,
    and nothing more (no-op for DuckDB). Idempotent; run as the owner.

    Reprovisioning a MariaDB reader revokes every grant it holds, so a build
    whose neighbours are up to date still calls this.
    """
    if engine == "duckdb":
        return
    role, password = _reader(engine, reader_dsn)
    for name in names:
        if engine == "mariadb":
            _grant_mariadb(owner_dsn, name, role)
        else:
            provision_select_only_role(
                admin_dsn=repoint(engine, owner_dsn, name),
                role=role,
                password=password or None,
            )


def neighbour_sandbox(
    *,
    engine: str,
    reader_dsn: str,
    location: str,
    timeout_s: float,
    max_rows: int,
    max_bytes: int,
) -> Sandbox:
    """A new (uncached) sandbox on one neighbour: the DuckDB file ``location``,
    or the database ``location`` read with the target's reader login."""
    if engine == "duckdb":
        return DuckDBSandbox(
            Path(location), timeout_s=timeout_s, max_rows=max_rows, max_bytes=max_bytes
        )
    dsn = repoint(engine, reader_dsn, location)
    if engine == "mariadb":
        return MariaDBSandbox(
            dsn, timeout_s=timeout_s, max_rows=max_rows, max_bytes=max_bytes
        )
    return PostgresSandbox(
        dsn, timeout_s=timeout_s, max_rows=max_rows, max_bytes=max_bytes
    )
