"""Settings come from the environment; each case runs in a fresh interpreter."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_list

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 30 + "-production-secret-with-enough-entropy-9f8e7d6c5b4a",
    "PSEUDONYM_KEY": "pseudonym-key-for-production",
    "ALLOWED_HOSTS": "loopgate.example.com",
    "DATABASE_URL": "postgres://loopgate:pw@db.example.com:5432/loopgate",
    "CELERY_BROKER_URL": "redis://redis.example.com:6379/0",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_COOKIES": "true",
    "BEHIND_TLS_PROXY": "true",
}


def run_django(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Browser tests relax Django's async guard for this process only.
    ignored = {*PRODUCTION_ENV, "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in ignored}
    return subprocess.run(  # noqa: S603 (fixed argv: this interpreter, test code)
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


PRINT_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER, s.DEBUG)"
)


def test_production_values_pass_check_deploy() -> None:
    result = run_django(
        "import sys; from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'check', '--deploy', "
        "'--fail-level', 'WARNING'])",
        PRODUCTION_ENV,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_database_and_broker_come_from_the_environment() -> None:
    result = run_django(PRINT_SETTINGS, PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "False", "False"]


def test_defaults_are_sqlite_and_eager_tasks(tmp_path: Path) -> None:
    result = run_django(
        PRINT_SETTINGS, {"DEBUG": "true", "LOOPGATE_DATA_DIR": str(tmp_path)}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "True", "True"]


def test_secret_key_is_required_when_debug_is_off() -> None:
    env = {**PRODUCTION_ENV}
    del env["SECRET_KEY"]
    result = run_django(PRINT_SETTINGS, env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_env_bool_is_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLAG", "yes")
    assert env_bool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "off")
    assert env_bool("FLAG", True) is False
    monkeypatch.setenv("FLAG", "ture")
    with pytest.raises(ImproperlyConfigured, match="FLAG"):
        env_bool("FLAG", False)


def test_env_list_splits_and_trims(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTS", " a.example , b.example,,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]
    monkeypatch.delenv("HOSTS")
    assert env_list("HOSTS", ["x"]) == ["x"]


def test_env_example_lists_every_variable_settings_read() -> None:
    import re

    source = (ROOT / "config" / "settings.py").read_text()
    read = set(re.findall(r'env_(?:str|bool|int|list)\(\s*"([A-Z_]+)"', source))
    read |= set(re.findall(r'_required_secret\(\s*"([A-Z_]+)"', source))
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z_]+)=", example, flags=re.MULTILINE))
    assert read, "the pattern found no variables"
    assert read <= listed, sorted(read - listed)


KEEPS_CONNECTION = (
    "import django; django.setup(); from django.conf import settings as s; "
    "from django.db import close_old_connections, connection; "
    "connection.ensure_connection(); raw = connection.connection; "
    "close_old_connections(); "  # what Django runs when a request ends
    "print(s.DATABASES['default']['CONN_MAX_AGE'], connection.connection is raw)"
)


def test_sqlite_keeps_its_connection_between_requests(tmp_path: Path) -> None:
    # Opening a SQLite connection per request (pragmas, then a WAL checkpoint
    # and delete on close) was most of a single POST's time.
    env = {"DEBUG": "true", "LOOPGATE_DATA_DIR": str(tmp_path)}
    result = run_django(KEEPS_CONNECTION, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["600", "True"]
    result = run_django(KEEPS_CONNECTION, {**env, "DATABASE_CONN_MAX_AGE": "0"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "False"]


def test_postgresql_keeps_a_checked_connection_for_a_minute() -> None:
    # A new PostgreSQL connection forks a backend and warms its caches: a third
    # of the server's CPU per 1,000-event batch when every request opened one.
    result = run_django(
        "import django; django.setup(); from django.conf import settings as s; "
        "d = s.DATABASES['default']; print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])",
        PRODUCTION_ENV,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["60", "True"]


@pytest.mark.postgres
def test_postgresql_connection_outlives_a_request_unless_told_otherwise() -> None:
    url = os.environ["DATABASE_URL"]
    env = {**PRODUCTION_ENV, "DATABASE_URL": url, "ALLOWED_HOSTS": "testserver"}
    result = run_django(KEEPS_CONNECTION, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["60", "True"]
    result = run_django(KEEPS_CONNECTION, {**env, "DATABASE_CONN_MAX_AGE": "0"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "False"]


# A fresh process: shared tasks bound before django.setup() must reach our app.
CELERY_BINDING = """
import sys
from django.conf import settings
settings.INSTALLED_APPS  # reading settings alone does not load Celery
print("celery" in sys.modules)
import django
django.setup()
import config
from celery import current_app
from celery.app.utils import find_app
from feedback.tasks import export_daily
app = config.celery_app
print(current_app.main, app is current_app._get_current_object())
print(export_daily.app is app, "feedback.export_daily" in app.tasks)
print(find_app("config") is app, app.conf.task_ignore_result)
print(sorted(entry["task"] for entry in app.conf.beat_schedule.values()))
"""


def test_django_start_loads_the_celery_app_that_shared_tasks_bind_to(
    tmp_path: Path,
) -> None:
    result = run_django(
        CELERY_BINDING, {"DEBUG": "true", "LOOPGATE_DATA_DIR": str(tmp_path)}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "False",
        "loopgate True",
        "True True",
        "True True",
        "['feedback.enforce_retention', 'feedback.export_daily', "
        "'feedback.sample_audit_items']",
    ]
