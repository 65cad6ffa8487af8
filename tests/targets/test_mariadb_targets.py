"""MariaDB targets: accounts, provisioning, registration, gold and the gate.

Marked ``mariadb``: needs MARIADB_ADMIN_URL (see tests/targets/mariadb_scratch.py).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, override_settings

from targets.exceptions import GoldUnrunnable
from targets.execution import run_on_target, verify_gold
from targets.models import TargetDatabase
from targets.provisioning import ProvisioningError
from targets.provisioning_mariadb import provision_mariadb_select_only
from targets.sandbox import MariaDBSandbox, SandboxError, SandboxMisconfigured
from targets.services import register_target_database
from targets.sqlgate import SQLRejected
from tests.targets.adversarial import CORPUS
from tests.targets.mariadb_scratch import TABLES, Scratch, concert_singer_on_mariadb

DEADLINE_S = 1.0
SLACK_S = 0.5
DSN_VAR = "LOOPGATE_TARGET_MARIADB_TEST"
pytestmark = pytest.mark.mariadb


@pytest.fixture(scope="module")
def scratch() -> Iterator[Scratch]:
    with concert_singer_on_mariadb() as made:
        yield made


@pytest.mark.django_db
def test_run_on_target_stops_adversarial_sql(
    scratch: Scratch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DSN_VAR, scratch.dsn)
    target = register_target_database(
        name="cs-mariadb", engine="mariadb", location=DSN_VAR, acting_user=None
    )
    before = scratch.checksums()
    with override_settings(SANDBOX_TIMEOUT_MS=int(DEADLINE_S * 1000)):
        assert run_on_target(target, "SELECT count(*) FROM singer").rows == [(6,)]
        for attack in [a for a in CORPUS if a.applies_to("mariadb")]:
            started = time.monotonic()
            if attack.bomb:
                with contextlib.suppress(SQLRejected, SandboxError):
                    run_on_target(target, attack.sql)
            else:
                with pytest.raises(SQLRejected):
                    run_on_target(target, attack.sql)
            assert time.monotonic() - started < DEADLINE_S + SLACK_S, attack
    assert scratch.checksums() == before


@pytest.mark.parametrize(
    "grants",
    [
        ("GRANT SELECT, INSERT ON {db}.* TO %s@'%%'",),
        ("GRANT SELECT ON {db}.* TO %s@'%%'", "GRANT UPDATE ON {db}.singer TO %s@'%%'"),
        ("GRANT SELECT ON {db}.* TO %s@'%%'", "GRANT FILE ON *.* TO %s@'%%'"),
        ("GRANT SELECT ON *.* TO %s@'%%'",),
        ("GRANT SELECT ON {db}.* TO %s@'%%' WITH GRANT OPTION",),
        ("GRANT SELECT, CREATE TEMPORARY TABLES ON {db}.* TO %s@'%%'",),
    ],
    ids=["insert", "table-update", "file", "global-select", "grant-option", "temp"],
)
def test_an_account_that_may_do_more_than_read_is_refused(
    grants: tuple[str, ...], scratch: Scratch
) -> None:
    name = f"mariadb_w_{uuid.uuid4().hex[:8]}"
    dsn = scratch.make_account(name, *grants)
    try:
        with pytest.raises(SandboxMisconfigured, match="not a SELECT-only account"):
            MariaDBSandbox(dsn).run("SELECT 1")
    finally:
        scratch.drop_account(name)


def test_provisioning_twice_is_idempotent_and_tightens(scratch: Scratch) -> None:
    admin_dsn = f"{scratch.admin_url}/{scratch.database}"
    again = provision_mariadb_select_only(
        admin_dsn=admin_dsn, role=scratch.role, password=scratch.password
    )
    assert not again.created
    assert again.dsn == scratch.dsn
    assert all("***" in s for s in again.statements if "IDENTIFIED" in s)
    assert not any(scratch.password in s for s in again.statements)
    conn = scratch.admin()
    try:
        with conn.cursor() as cur:
            cur.execute(
                f"GRANT INSERT ON `{scratch.database}`.* TO %s@'%%'", (scratch.role,)
            )
    finally:
        conn.close()
    with pytest.raises(SandboxMisconfigured):
        MariaDBSandbox(scratch.dsn).run("SELECT 1")
    provision_mariadb_select_only(
        admin_dsn=admin_dsn, role=scratch.role, password=scratch.password
    )
    assert MariaDBSandbox(scratch.dsn).run("SELECT count(*) FROM singer").rows == [(6,)]


def test_provisioning_refuses_bad_names_and_no_password(scratch: Scratch) -> None:
    admin_dsn = f"{scratch.admin_url}/{scratch.database}"
    for role in ("Robert'); DROP", "x" * 40, ""):
        with pytest.raises(ProvisioningError, match="Role names"):
            provision_mariadb_select_only(admin_dsn=admin_dsn, role=role, password="p")
    with pytest.raises(ProvisioningError, match="password"):
        provision_mariadb_select_only(admin_dsn=admin_dsn, role="r", password="")


def test_provision_command_with_engine_mariadb(
    scratch: Scratch,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MARIADB_TEST_ADMIN", f"{scratch.admin_url}/{scratch.database}")
    monkeypatch.setenv("MARIADB_TEST_PASSWORD", scratch.password)
    call_command(
        "provision_target_role",
        engine="mariadb",
        role_option=scratch.role,
        admin_dsn_env="MARIADB_TEST_ADMIN",
        password_env="MARIADB_TEST_PASSWORD",
    )
    assert capsys.readouterr().out.strip() == scratch.dsn


@pytest.mark.django_db
def test_verify_gold_on_a_mariadb_target(
    scratch: Scratch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DSN_VAR, scratch.dsn)
    target = register_target_database(
        name="cs-mariadb", engine="mariadb", location=DSN_VAR, acting_user=None
    )
    assert sorted(target.schema) == sorted(TABLES)
    assert target.schema["singer"][:2] == ["Singer_ID", "Name"]
    proof = verify_gold(target, "SELECT count(*) FROM singer ")
    assert proof.result.rows == [(6,)]
    assert proof.covers(target, "SELECT count(*) FROM singer")
    with pytest.raises(GoldUnrunnable, match="Unknown column"):
        verify_gold(target, "SELECT nope FROM singer")
    with pytest.raises(GoldUnrunnable, match="SQL gate"):
        verify_gold(target, "SELECT SLEEP(1)")
    with (
        override_settings(SANDBOX_MAX_ROWS=5),
        pytest.raises(GoldUnrunnable, match="more than 5 rows"),
    ):
        verify_gold(target, "SELECT Name FROM singer")


@pytest.mark.django_db
def test_api_registers_a_mariadb_target(
    scratch: Scratch,
    ml_lead: User,
    client_as: Callable[[User], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(DSN_VAR, scratch.dsn)
    client = client_as(ml_lead)
    url = "/api/v1/evaluation/target-databases/"
    payload = {"name": "cs-maria", "engine": "mariadb", "location": DSN_VAR}
    response = client.post(url, payload, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["dialect"] == "mysql"
    assert sorted(response.json()["schema"]) == sorted(TABLES)
    unset = client.post(
        url,
        {**payload, "name": "cs-unset", "location": "LOOPGATE_TARGET_UNSET_X"},
        format="json",
    )
    assert unset.status_code == 400
    assert "location" in str(unset.json()), unset.json()


@pytest.mark.django_db
def test_admin_registers_a_mariadb_target_and_refuses_a_writer(
    scratch: Scratch, ml_lead: User, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"mariadb_w_{uuid.uuid4().hex[:8]}"
    writer = scratch.make_account(name, "GRANT SELECT, INSERT ON {db}.* TO %s@'%%'")
    monkeypatch.setenv(DSN_VAR, scratch.dsn)
    monkeypatch.setenv("LOOPGATE_TARGET_MARIADB_WRITER", writer)
    client.force_login(ml_lead)
    url = "/admin/targets/targetdatabase/add/"
    form = {"name": "cs-admin", "engine": "mariadb", "description": ""}
    try:
        for location, error in [
            ("DATABASE_URL", b"LOOPGATE_TARGET_"),
            ("LOOPGATE_TARGET_UNSET_Y", b"is not set"),
            ("LOOPGATE_TARGET_MARIADB_WRITER", b"not a SELECT-only account"),
        ]:
            page = client.post(url, {**form, "location": location})
            assert page.status_code == 200
            assert error in page.content
        assert not TargetDatabase.objects.exists()
        done = client.post(url, {**form, "location": DSN_VAR})
        assert done.status_code == 302, done.content
        assert sorted(TargetDatabase.objects.get().schema) == sorted(TABLES)
    finally:
        scratch.drop_account(name)
