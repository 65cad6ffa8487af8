"""Load a SQLite database into another engine and register it as a target.

The copy (`targets.load_plan`, `targets.load_writers`) runs as the target
database's owner; generated SQL later runs as a SELECT-only login that this
service provisions, never as the owner (docs/security-notes.md).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from psycopg.conninfo import conninfo_to_dict

from audit.services import record_event
from targets.exceptions import TargetDatabaseError
from targets.load_plan import LoadPlan, SourceError, plan_load
from targets.load_writers import LoadError, write_duckdb, write_mariadb, write_pg
from targets.models import TargetDatabase
from targets.provisioning import ProvisioningError, provision_select_only_role
from targets.provisioning_mariadb import provision_mariadb_select_only

__all__ = ["LoadResult", "load_target_database", "reader_role_name"]

_NAME = re.compile(r"^[-a-zA-Z0-9_]{1,100}$")
_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*$")
LOADABLE = ("postgresql", "mariadb", "duckdb")


@dataclass(frozen=True)
class LoadResult:
    """The registered target, what the copy changed, and the reader's DSN.

    `reader_dsn` is set when this load chose the reader's password: the caller
    shows it once, to be stored in the variable the target's location names.
    """

    target: TargetDatabase
    created: bool
    plan: LoadPlan
    reader_role: str
    reader_dsn: str


def reader_role_name(name: str) -> str:
    """The SELECT-only role a target named `name` is read as by default.

    At most 32 characters (MariaDB's limit); a longer name is cut and made
    unique again with a digest, so two targets never share a reader.
    """
    role = "lg_ro_" + re.sub(r"[^a-z0-9_]", "_", name.lower())
    if len(role) <= 32 and role == "lg_ro_" + name:
        return role
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{role[:23]}_{digest}"


def _location(engine: str, path: Path | None, dsn_env: str) -> str:
    if engine == "duckdb":
        if path is None:
            raise TargetDatabaseError("DuckDB needs an output path.", field="path")
        if path.suffix != ".duckdb":
            raise TargetDatabaseError("Name the file *.duckdb.", field="path")
        resolved = path.resolve()
        root = Path(settings.TARGET_DATABASE_ROOT).resolve()
        inside = resolved.is_relative_to(root)
        return str(resolved.relative_to(root) if inside else resolved)
    if not _ENV.match(dsn_env):
        raise TargetDatabaseError(
            "Name the environment variable that will hold the read-only DSN "
            "(capitals, digits, underscores).",
            field="dsn_env",
        )
    return dsn_env


def _write(
    plan: LoadPlan, *, engine: str, admin_dsn: str, path: Path | None, replace: bool
) -> dict[str, list[str]]:
    if engine == "duckdb":
        assert path is not None  # noqa: S101 (checked by _location)
        return write_duckdb(plan, path=path, replace=replace)
    if not admin_dsn:
        raise TargetDatabaseError("The owner's DSN is empty.", field="admin_dsn_env")
    if engine == "postgresql":
        return write_pg(plan, dsn=admin_dsn, replace=replace)
    return write_mariadb(plan, dsn=admin_dsn, replace=replace)


def _provision(
    *, engine: str, name: str, admin_dsn: str, reader_dsn: str
) -> tuple[str, str]:
    """The reader role and, when chosen here, its new DSN."""
    if engine == "duckdb":
        # The DuckDB sandbox opens the file read-only; no login to set up.
        return "", ""
    role, password = _reader_login(engine, reader_dsn)
    role = role or reader_role_name(name)
    chosen = password is None
    secret = secrets.token_urlsafe(24) if password is None else password
    try:
        if engine == "mariadb":
            provisioned = provision_mariadb_select_only(
                admin_dsn=admin_dsn, role=role, password=secret
            )
        else:
            provisioned = provision_select_only_role(
                admin_dsn=admin_dsn, role=role, password=secret
            )
    except ProvisioningError as exc:
        raise TargetDatabaseError(str(exc), field="dsn_env") from None
    return role, provisioned.dsn if chosen else ""


def _reader_login(engine: str, reader_dsn: str) -> tuple[str, str | None]:
    """The user and password a reader DSN names (empty and None when unset)."""
    if not reader_dsn:
        return "", None
    if engine == "mariadb":
        parts = urlsplit(reader_dsn)
        password = unquote(parts.password) if parts.password is not None else None
        return unquote(parts.username or ""), password
    given = conninfo_to_dict(reader_dsn)
    secret = given.get("password")
    return str(given.get("user") or ""), None if secret is None else str(secret)


def load_target_database(
    *,
    source: Path,
    engine: str,
    name: str,
    acting_user: User | None,
    admin_dsn: str = "",
    path: Path | None = None,
    dsn_env: str = "",
    reader_dsn: str = "",
    replace: bool = False,
) -> LoadResult:
    """Copy the SQLite file `source` into `engine` and register target `name`.

    PostgreSQL and MariaDB load into the database `admin_dsn` owns and register
    the variable `dsn_env` as the location; `reader_dsn` (that variable's
    value, if set) names the SELECT-only login to provision, else role
    `lg_ro_<name>` gets a new password returned once in `reader_dsn`. DuckDB
    writes the file `path`. Idempotent only with `replace`: without it a
    target already holding the tables, or a name registered elsewhere, is
    refused (TargetDatabaseError naming the field). Records
    `targets.target_database.loaded` with the counts of coerced values and left-out
    constraints.
    """
    if engine not in LOADABLE:
        raise TargetDatabaseError(
            f"Engine must be one of {', '.join(LOADABLE)}.", field="engine"
        )
    if not _NAME.match(name):
        raise TargetDatabaseError(
            "Target names are letters, digits, '-' and '_'.", field="name"
        )
    location = _location(engine, path, dsn_env)
    existing = TargetDatabase.objects.filter(name=name).first()
    if (
        existing is not None
        and not replace
        and (existing.engine, existing.location) != (engine, location)
    ):
        raise TargetDatabaseError(
            f"{name!r} is registered with another engine or location: pass "
            "replace to move it.",
            field="name",
        )
    try:
        plan = plan_load(source)
        schema = _write(
            plan, engine=engine, admin_dsn=admin_dsn, path=path, replace=replace
        )
    except SourceError as exc:
        raise TargetDatabaseError(str(exc), field="from") from None
    except LoadError as exc:
        raise TargetDatabaseError(str(exc), field="replace") from None
    role, new_dsn = _provision(
        engine=engine, name=name, admin_dsn=admin_dsn, reader_dsn=reader_dsn
    )
    target, created = _register(
        name=name,
        engine=engine,
        location=location,
        schema=schema,
        source=source,
        plan=plan,
        acting_user=acting_user,
    )
    return LoadResult(target, created, plan, role, new_dsn)


@transaction.atomic
def _register(
    *,
    name: str,
    engine: str,
    location: str,
    schema: dict[str, list[str]],
    source: Path,
    plan: LoadPlan,
    acting_user: User | None,
) -> tuple[TargetDatabase, bool]:
    target = TargetDatabase.objects.select_for_update().filter(name=name).first()
    created = target is None
    description = f"Loaded from {source.name} ({plan.row_count} rows)."
    if target is None:
        target = TargetDatabase.objects.create(
            name=name,
            engine=engine,
            location=location,
            description=description,
            schema=schema,
        )
    else:
        target.engine, target.location = engine, location
        target.description, target.schema = description, schema
        target.save(update_fields=["engine", "location", "description", "schema"])
    record_event(
        event_type="targets.target_database.loaded",
        actor=acting_user,
        subject=target,
        data={
            "engine": engine,
            "source": source.name,
            "tables": len(schema),
            "rows": plan.row_count,
            "coerced_values": sum(c.count for c in plan.coercions),
            "left_out_constraints": len(plan.dropped),
            "created": created,
        },
    )
    return target, created
