"""Create the SELECT-only login role a PostgreSQL target database is queried as.

The PostgreSQL sandbox refuses to run as a role that is powerful, may create
schemas or temporary tables, owns a relation or may write one (see
`evaluation.sandbox._verify_select_only`): read-only transactions are not a
boundary, grants are. This module sets those grants up, as the database owner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from targets.sandbox import (
    PostgresSandbox,
    SandboxError,
)

__all__ = ["ProvisionedRole", "ProvisioningError", "provision_select_only_role"]

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class ProvisioningError(Exception):
    """The role could not be set up, or does not pass the sandbox's role check."""


@dataclass(frozen=True)
class ProvisionedRole:
    """The role, whether it was created now, and the DSN to store in the env."""

    role: str
    created: bool
    dsn: str
    statements: list[str]


def _statements(
    *, role: str, database: str, schema: str, exists: bool, password: str | None
) -> list[sql.Composed]:
    r, db, s = sql.Identifier(role), sql.Identifier(database), sql.Identifier(schema)
    # Only a superuser may even restate SUPERUSER, REPLICATION or BYPASSRLS on an
    # existing role; the role check after provisioning catches those.
    attributes = "LOGIN NOCREATEDB NOCREATEROLE NOINHERIT"
    if not exists:
        attributes += " NOSUPERUSER NOREPLICATION NOBYPASSRLS"
    head = "ALTER ROLE {} WITH " if exists else "CREATE ROLE {} WITH "
    create = sql.SQL(head + attributes).format(r)
    if password is not None:
        create = sql.SQL("{} PASSWORD {}").format(create, sql.Literal(password))
    return [
        create,
        # PUBLIC holds CONNECT and TEMP on every new database, and (before
        # PostgreSQL 15) CREATE on schema public: the role would inherit them.
        sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db),
        sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC").format(s),
        sql.SQL("REVOKE CREATE, TEMPORARY ON DATABASE {} FROM {}").format(db, r),
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, r),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r),
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(s, r),
        # Tables the owner adds later become readable without a second run.
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}"
        ).format(s, r),
        # Defence in depth only: the grants above are the boundary.
        sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(r),
    ]


def provision_select_only_role(
    *, admin_dsn: str, role: str, password: str | None, schema: str = "public"
) -> ProvisionedRole:
    """Create or tighten `role` as a SELECT-only login on `admin_dsn`'s database.

    Run as the database owner (or a superuser) holding CREATEROLE. Idempotent:
    an existing role is altered to the same attributes (its password changes
    only when one is given). All statements run in one transaction; then the
    role connects and must pass the sandbox's role check, else
    ProvisioningError. Returns the DSN to put in a `LOOPGATE_TARGET_*` variable.
    """
    if not _NAME.match(role) or not _NAME.match(schema):
        raise ProvisioningError(
            "Role and schema names must be lowercase letters, digits and '_'."
        )
    try:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            database = conn.info.dbname
            exists = (
                conn.execute(
                    "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)
                ).fetchone()
                is not None
            )
            statements = _statements(
                role=role,
                database=database,
                schema=schema,
                exists=exists,
                password=password,
            )
            with conn.transaction():
                for statement in statements:
                    conn.execute(statement)
            shown = [
                s.as_string(conn).replace(sql.Literal(password).as_string(conn), "***")
                if password is not None
                else s.as_string(conn)
                for s in statements
            ]
    except psycopg.Error as exc:
        raise ProvisioningError(f"Provisioning failed: {exc}") from None
    params = conninfo_to_dict(admin_dsn)
    params.update(user=role, dbname=database)
    params.pop("password", None)
    if password is not None:
        params["password"] = password
    dsn = make_conninfo("", **params)
    _check_as_role(dsn)
    return ProvisionedRole(role=role, created=not exists, dsn=dsn, statements=shown)


def _check_as_role(dsn: str) -> None:
    sandbox = PostgresSandbox(dsn)
    try:
        sandbox.run("SELECT 1")
    except (SandboxError, psycopg.Error) as exc:
        raise ProvisioningError(f"The role does not pass the check: {exc}") from None
    finally:
        sandbox.close()
