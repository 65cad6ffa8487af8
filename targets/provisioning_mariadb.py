"""Create the SELECT-only account a MariaDB/MySQL target database is queried as.

The MariaDB sandbox refuses an account whose ``SHOW GRANTS`` holds anything
beyond SELECT on its own database (`targets.sandbox.mariadb_grants.grant_problems`):
as on PostgreSQL, grants are the boundary, not read-only transactions. This
module sets those grants up, as an administrator of the server.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pymysql
from pymysql.cursors import Cursor

from targets.provisioning import ProvisionedRole, ProvisioningError
from targets.sandbox import MariaDBSandbox, SandboxError
from targets.sandbox.mariadb import MySQLAddress, connect, parse_mysql_dsn

__all__ = ["database_grant_pattern", "provision_mariadb_select_only"]

# MySQL caps user names at 32 characters; MariaDB at 80.
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,31}$")
ACCOUNT_HOST = "%"


def database_grant_pattern(database: str) -> str:
    """``database`` as a database-level grant names it: quoted, LIKE-escaped.

    ``_`` and ``%`` are wildcards in database-level grants: an unescaped
    ``mariadb_x`` would also cover a database named ``mariadbAx``.
    """
    escaped = database.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
    return "`" + escaped.replace("`", "``") + "`"


def _dsn(address: MySQLAddress, role: str, password: str) -> str:
    database = quote(address.database, safe="")
    return (
        f"mysql://{role}:{quote(password, safe='')}@{address.host}:"
        f"{address.port}/{database}"
    )


def provision_mariadb_select_only(
    *, admin_dsn: str, role: str, password: str
) -> ProvisionedRole:
    """Create or tighten ``role`` as a login that may only read one database.

    ``admin_dsn`` is a ``mysql://`` URL of an account allowed to create users and
    grant SELECT, naming the target database. Idempotent: every privilege and
    role the account holds is revoked, then SELECT on that one database is
    granted again, and the password is (re)set to ``password``: the account must
    then connect with it and pass the sandbox's grant check, else
    ProvisioningError. Returns the DSN to put in a ``LOOPGATE_TARGET_*``
    variable. Account statements auto-commit on MariaDB: a failure midway
    leaves the account tighter than before, never looser, and a rerun finishes.
    """
    if not password:
        raise ProvisioningError("The account needs a password.")
    if not _NAME.match(role):
        raise ProvisioningError(
            "Role names must be lowercase letters, digits and '_' (at most 32)."
        )
    try:
        address = parse_mysql_dsn(admin_dsn)
    except SandboxError as exc:
        raise ProvisioningError(str(exc)) from None
    try:
        conn = connect(address, read_timeout=30)
    except pymysql.Error as exc:
        raise ProvisioningError(f"Provisioning failed: {exc}") from None
    try:
        admin = _Admin(conn.cursor())
        exists = admin.account_exists(role)
        verb = "ALTER" if exists else "CREATE"
        admin.run(f"{verb} USER %s@%s IDENTIFIED BY %s", role, secret=password)
        # Roles granted to the account would come back with SET ROLE.
        for granted in admin.granted_roles(role):
            admin.run("REVOKE %s FROM %s@%s", granted, role)
        admin.run("REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@%s", role)
        # Formatted with arguments: a literal % must be doubled.
        database = database_grant_pattern(address.database).replace("%", "%%")
        admin.run(f"GRANT SELECT ON {database}.* TO %s@%s", role)
    except pymysql.Error as exc:
        raise ProvisioningError(f"Provisioning failed: {exc}") from None
    finally:
        conn.close()
    dsn = _dsn(address, role, password)
    _check_as_role(dsn)
    return ProvisionedRole(
        role=role, created=not exists, dsn=dsn, statements=admin.shown
    )


class _Admin:
    """Runs account statements and keeps their text, passwords masked."""

    def __init__(self, cursor: Cursor) -> None:
        self.cursor = cursor
        self.shown: list[str] = []

    def run(self, statement: str, *names: str, secret: str | None = None) -> None:
        """Run ``statement``; ``names`` then the account host (and ``secret``)."""
        args = (*names, ACCOUNT_HOST)
        self.cursor.execute(statement, (*args, secret) if secret else args)
        self.shown.append(
            self.cursor.mogrify(statement, (*args, "***") if secret else args)
        )

    def account_exists(self, role: str) -> bool:
        self.cursor.execute(
            "SELECT 1 FROM mysql.user WHERE User = %s AND Host = %s",
            (role, ACCOUNT_HOST),
        )
        return self.cursor.fetchone() is not None

    def granted_roles(self, role: str) -> list[str]:
        self.cursor.execute(
            "SELECT Role FROM mysql.roles_mapping WHERE User = %s AND Host = %s",
            (role, ACCOUNT_HOST),
        )
        return [str(row[0]) for row in self.cursor.fetchall()]


def _check_as_role(dsn: str) -> None:
    sandbox = MariaDBSandbox(dsn)
    try:
        sandbox.run("SELECT 1")
    except SandboxError as exc:
        raise ProvisioningError(f"The account does not pass the check: {exc}") from None
    finally:
        sandbox.close()
