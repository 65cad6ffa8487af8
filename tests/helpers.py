"""Plain helpers shared by test modules (fixtures stay in conftest.py files)."""

import os
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.management import create_contenttypes
from django.db import connection

from accounts.roles import ROLES, sync_roles

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"

TEMPLATE_TEXT = "Schema:\n{schema}\nExamples:\n{examples}\nQuestion: {question}\nSQL:"


def ensure_roles() -> None:
    """Restore the role groups when a transactional test's flush removed them.

    A flush after a `serialized_rollback` test skips post_migrate, so content
    types and permissions may be gone too: they are recreated first.
    """
    if not Permission.objects.exists():
        for app_config in apps.get_app_configs():
            create_contenttypes(app_config, verbosity=0)
            create_permissions(app_config, verbosity=0)
    if Group.objects.filter(name__in=ROLES).count() != len(ROLES):
        sync_roles()


def worker_database_url() -> str:
    """The DSN of the PostgreSQL test database, for worker processes."""
    db = connection.settings_dict
    return (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


def admin_dsn() -> str:
    """The PostgreSQL URL of the control plane, or skip the test."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.skip("DATABASE_URL is not PostgreSQL")
    return url


def with_dbname(dsn: str, dbname: str, user: str | None = None) -> str:
    """``dsn`` pointed at another database (and role, without its password)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(dsn)
    params["dbname"] = dbname
    if user is not None:
        params["user"] = user
        params.pop("password", None)
    return make_conninfo(**params)
