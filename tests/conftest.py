"""Personas and registry state shared by every test module."""

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import connection
from rest_framework.test import APIClient

from config.celery import app as celery_app
from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion
from registry.services import (
    create_prompt_version,
    create_template,
    move_label,
    register_model_version,
)
from targets.models import TargetDatabase
from targets.services import register_target_database
from tests.helpers import TEMPLATE_TEXT, ensure_roles, worker_database_url

ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    on_postgres = connection.vendor == "postgresql"
    has_broker = bool(settings.CELERY_BROKER_URL)
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (CI pass 2)")
    skip_broker = pytest.mark.skip(
        reason="needs a Redis broker and PostgreSQL: set CELERY_BROKER_URL and "
        "DATABASE_URL (CI pass 2)"
    )
    skip_mariadb = pytest.mark.skip(
        reason="needs MariaDB: set MARIADB_ADMIN_URL=mysql://root@127.0.0.1:3306 "
        "(CI pass 2)"
    )
    has_mariadb = bool(os.environ.get("MARIADB_ADMIN_URL"))
    for item in items:
        if item.get_closest_marker("mariadb") is not None and not has_mariadb:
            item.add_marker(skip_mariadb)
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)
        if "broker" in item.keywords and not (has_broker and on_postgres):
            item.add_marker(skip_broker)


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless system Chromium driven by Playwright (no browser download)."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("needs Chromium: `make test` installs it with apt when root")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; Django's ORM would
    # otherwise refuse to run from the test body while it exists.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    ensure_roles()

    def make(username: str, *roles: str, **extra: object) -> User:
        user = User.objects.create_user(username=username, password="pw", **extra)
        for role in roles:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def analyst(make_user: Callable[..., User]) -> User:
    return make_user("ana", "analyst")


@pytest.fixture
def ml_lead(make_user: Callable[..., User]) -> User:
    return make_user("lee", "ml_lead", is_staff=True)


@pytest.fixture
def auditor(make_user: Callable[..., User]) -> User:
    return make_user("aud", "auditor", is_staff=True)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_as(api_client: APIClient) -> Callable[[User], APIClient]:
    def login(user: User) -> APIClient:
        api_client.force_authenticate(user)
        return api_client

    return login


@pytest.fixture
def target_db(db: None) -> TargetDatabase:
    return register_target_database(
        name="concert_singer",
        engine="sqlite",
        location="spider/database/concert_singer/concert_singer.sqlite",
        acting_user=None,
    )


@pytest.fixture
def template(target_db: TargetDatabase, ml_lead: User) -> PromptTemplate:
    return create_template(
        name="concerts",
        description="Concert questions",
        owner=ml_lead,
        risk_tier=2,
        target_database=target_db,
        acting_user=ml_lead,
    )


@pytest.fixture
def prompt_v1(template: PromptTemplate, ml_lead: User) -> PromptVersion:
    return create_prompt_version(
        template=template,
        template_text=TEMPLATE_TEXT,
        few_shot_examples=[
            {"question": "How many singers?", "sql": "SELECT count(*) FROM singer"}
        ],
        parameters={"max_examples": 2},
        changelog="First version",
        author=ml_lead,
    )


@pytest.fixture
def model_v1(ml_lead: User) -> ModelVersion:
    return register_model_version(
        name="knn-1",
        provider="offline-retrieval",
        model_identifier="nearest-example",
        generation_parameters={"neighbours": 1},
        endpoint_name="",
        acting_user=ml_lead,
    )


@pytest.fixture
def production(
    template: PromptTemplate,
    prompt_v1: PromptVersion,
    model_v1: ModelVersion,
    ml_lead: User,
) -> Label:
    return move_label(
        template=template,
        name=Label.Name.PRODUCTION,
        prompt_version=prompt_v1,
        model_version=model_v1,
        reason="initial",
        acting_user=ml_lead,
    )


@pytest.fixture
def celery_workers(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start real `celery worker` processes on the test database and the broker.

    Tasks sent by the test go through the broker while this fixture is active
    (the test settings otherwise run them in process). Workers are killed at the
    end; `start(name, **env)` passes extra environment variables.
    """
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, **extra_env: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": worker_database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            **extra_env,
        }
        log = (tmp_path / f"{name}.log").open("wb")
        process = subprocess.Popen(  # noqa: S603 (fixed argv: this interpreter)
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--concurrency=1",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                f"--hostname={name}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        started.append(process)
        return process

    celery_app.control.purge()
    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    celery_app.control.purge()
    celery_app.conf.task_always_eager = eager
