"""Suite mode on DuckDB, PostgreSQL and MariaDB targets, on the real engines.

Each engine gets concert_singer loaded by `load_target_database`, its
neighbours built by `manage.py build_neighbours` as the owner, and runs scored
through the engine's own sandbox as the target's reader.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient

from evaluation.engine_neighbours import (
    NeighbourBuildError,
    build_engine_neighbours,
    neighbour_locations,
    open_neighbour_sandboxes,
)
from evaluation.models import EvaluationRun, GoldenSetSnapshot
from evaluation.runs.exceptions import RunError
from registry.models import ModelVersion, PromptTemplate, PromptVersion
from registry.services import create_prompt_version
from targets.loading import load_target_database
from targets.models import TargetDatabase
from targets.sandbox import SandboxError, close_all
from tests.evaluation.runs.run_fixtures import (
    ITEMS,
    TEMPLATE_TEXT,
    add_goldens,
    finished_run,
    prompt_with,
    snapshot_of,
    verdicts,
)
from tests.helpers import DATA

SOURCE = DATA / "spider" / "database" / "concert_singer" / "concert_singer.sqlite"
# "How many singers?" answered with the original row count, hard-coded.
COINCIDENTAL = "SELECT 6"
OWNER_ENV = "LOOPGATE_TEST_SUITE_OWNER"
ENGINES = [
    "duckdb",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]


def _pg_scratch(suffix: str) -> Iterator[tuple[str, str]]:
    import psycopg
    from psycopg import sql

    from tests.helpers import admin_dsn, with_dbname

    admin = admin_dsn()
    name, role = f"loopgate_c_suite_{suffix}", f"lg_ro_suite_{suffix}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield (
            with_dbname(admin, name),
            with_dbname(admin, name, user=role) + (f" password=pw-{role}"),
        )
    finally:
        close_all()
        with psycopg.connect(admin, autocommit=True) as conn:
            for n in ["", *(f"__nb{i}" for i in range(1, 6))]:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(name + n)
                    )
                )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _mariadb_scratch(suffix: str) -> Iterator[tuple[str, str]]:
    import pymysql

    from targets.load_writers import mariadb_params

    url = urlsplit(os.environ["MARIADB_ADMIN_URL"])
    name, role = f"lg_suite_{suffix}", f"lg_ro_suite_{suffix}"
    owner = urlunsplit((url.scheme, url.netloc, f"/{name}", "", ""))
    params = mariadb_params(owner)
    params.pop("database")
    conn = pymysql.connect(**params, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    host = f"{params['host']}:{params['port']}"
    try:
        yield owner, f"mysql://{role}:pw-{role}@{host}/{name}"
    finally:
        close_all()
        with conn.cursor() as cur:
            for n in ["", *(f"__nb{i}" for i in range(1, 6))]:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}{n}`")
            cur.execute("DROP USER IF EXISTS %s@'%%'", (role,))
        conn.close()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def data_dir(settings: SettingsWrapper, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path / "data"
    return settings.DATA_DIR  # type: ignore[no-any-return]


@pytest.fixture
def owner(
    engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str]]:
    """The owner's DSN (or DuckDB file) and the reader's DSN of a scratch target."""
    suffix = uuid.uuid4().hex[:8]
    if engine == "duckdb":
        yield str(tmp_path / "concert_singer.duckdb"), ""
        return
    scratch = _pg_scratch if engine == "postgresql" else _mariadb_scratch
    for owner_dsn, reader in scratch(suffix):
        monkeypatch.setenv(OWNER_ENV, owner_dsn)
        monkeypatch.setenv("LOOPGATE_TARGET_SUITE", reader)
        yield owner_dsn, reader


@pytest.fixture
def target_db(db: None, engine: str, owner: tuple[str, str]) -> TargetDatabase:
    """concert_singer loaded into the engine (overrides the SQLite one)."""
    where, reader = owner
    if engine == "duckdb":
        options = {"path": Path(where)}
    else:
        options = {
            "admin_dsn": where,
            "dsn_env": "LOOPGATE_TARGET_SUITE",
            "reader_dsn": reader,
        }
    loaded = load_target_database(
        source=SOURCE,
        engine=engine,
        name="concert_singer",
        acting_user=None,
        **options,  # type: ignore[arg-type]
    )
    return loaded.target


@pytest.fixture
def snapshot(target_db: TargetDatabase) -> GoldenSetSnapshot:
    return snapshot_of(add_goldens(target_db))


@pytest.fixture
def lucky(template: PromptTemplate, ml_lead: User) -> PromptVersion:
    examples = [
        {"question": paraphrase, "sql": COINCIDENTAL if i == 0 else sql}
        for i, (_, paraphrase, sql, _) in enumerate(ITEMS)
    ]
    return create_prompt_version(
        template=template,
        template_text=TEMPLATE_TEXT,
        few_shot_examples=examples,
        parameters={"max_examples": 2},
        changelog="hard-codes the singer count",
        author=ml_lead,
    )


def _build(engine: str) -> str:
    # The command runs in its own process; here the golden checks' DuckDB
    # sandbox holds the file open with another configuration.
    close_all()
    args = [] if engine == "duckdb" else ["--admin-dsn-env", OWNER_ENV]
    out = Path(os.devnull)
    with out.open("w") as sink:
        call_command("build_neighbours", "concert_singer", *args, stdout=sink)
    return engine


def _owner_write(engine: str, owner_dsn: str, statement: str) -> None:
    if engine == "duckdb":
        import duckdb

        with duckdb.connect(owner_dsn) as conn:
            conn.execute(statement)
    elif engine == "postgresql":
        import psycopg

        with psycopg.connect(owner_dsn, autocommit=True) as conn:
            conn.execute(statement.encode())
    else:
        import pymysql

        from targets.load_writers import mariadb_params

        mconn = pymysql.connect(**mariadb_params(owner_dsn), autocommit=True)
        with mconn.cursor() as cur:
            cur.execute(statement)
        mconn.close()


def test_a_suite_run_without_neighbours_is_refused_naming_mode_and_the_command(
    data_dir: Path,
    lucky: PromptVersion,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
) -> None:
    with pytest.raises(RunError, match="build_neighbours concert_singer") as caught:
        finished_run(lucky, model_v1, snapshot, mode="suite")
    assert caught.value.field == "mode"  # type: ignore[attr-defined]
    assert not EvaluationRun.objects.filter(mode="suite").exists()


def test_the_api_refuses_a_suite_run_without_neighbours_with_400_naming_mode(
    data_dir: Path,
    engine: str,
    ml_lead: User,
    client_as: Callable[[User], APIClient],
    lucky: PromptVersion,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
) -> None:
    payload = {
        "prompt_version": lucky.pk,
        "model_version": model_v1.pk,
        "snapshot": snapshot.pk,
        "mode": "suite",
    }
    refused = client_as(ml_lead).post(
        "/api/v1/evaluation/runs/", payload, format="json"
    )
    assert refused.status_code == 400
    assert "build_neighbours concert_singer" in refused.json()["mode"][0]
    _build(engine)
    accepted = client_as(ml_lead).post(
        "/api/v1/evaluation/runs/", payload, format="json"
    )
    assert accepted.status_code == 202


def test_suite_mode_on_the_engine_flips_a_coincidence_and_keeps_gold_at_one(
    data_dir: Path,
    engine: str,
    lucky: PromptVersion,
    template: PromptTemplate,
    ml_lead: User,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    target_db: TargetDatabase,
) -> None:
    _build(engine)
    gold = finished_run(
        prompt_with(template, ml_lead, correct=range(6)),
        model_v1,
        snapshot,
        mode="suite",
    )
    assert gold.summary["overall"]["execution_accuracy"] == 1.0
    spider = finished_run(lucky, model_v1, snapshot)
    suite = finished_run(lucky, model_v1, snapshot, mode="suite")
    assert verdicts(spider) == dict.fromkeys(range(6), True)
    assert verdicts(suite) == {0: False, **dict.fromkeys(range(1, 6), True)}
    flipped = suite.results.get(execution_match=False)
    assert (flipped.predicted_sql, flipped.error_kind) == (
        COINCIDENTAL,
        "suite_mismatch",
    )
    # The neighbour is named by its number and where it lives.
    number, where = flipped.error.split(":")[0].removeprefix("neighbour ").split(" ")
    assert where == f"({Path(neighbour_locations(target_db)[int(number) - 1]).name})"
    manifest = json.loads(
        (data_dir / "neighbours" / "concert_singer" / "manifest.json").read_text()
    )
    assert (manifest["engine"], manifest["count"]) == (engine, 5)
    assert manifest["locations"] == list(neighbour_locations(target_db))


def test_the_reader_cannot_write_to_a_neighbour(
    data_dir: Path, engine: str, target_db: TargetDatabase
) -> None:
    _build(engine)
    sandboxes, _ = open_neighbour_sandboxes(target_db)
    try:
        first = sandboxes[0]
        before = first.run("SELECT count(*) FROM singer").rows
        for statement in (
            "DELETE FROM singer",
            "UPDATE singer SET age = 1",
            "CREATE TABLE planted (x INT)",
        ):
            with pytest.raises(SandboxError):
                first.run(statement)
        assert first.run("SELECT count(*) FROM singer").rows == before
    finally:
        for sandbox in sandboxes:
            sandbox.close()


def test_rebuilding_is_idempotent_until_the_target_changes(
    data_dir: Path,
    engine: str,
    owner: tuple[str, str],
    target_db: TargetDatabase,
) -> None:
    close_all()
    first = build_engine_neighbours(target=target_db, owner_dsn=owner[0])
    again = build_engine_neighbours(target=target_db, owner_dsn=owner[0])
    assert first.rebuilt and not again.rebuilt
    assert again.locations == first.locations
    assert again.source_hash == first.source_hash
    close_all()  # DuckDB opens a file with one configuration per process.
    _owner_write(
        engine,
        owner[0],
        "INSERT INTO stadium VALUES (99, 'Nowhere', 'Field', 10, 1, 1, 1)",
    )
    changed = build_engine_neighbours(target=target_db, owner_dsn=owner[0])
    assert changed.rebuilt and changed.source_hash != first.source_hash
    assert neighbour_locations(target_db) == first.locations


def _count_on_neighbours(target: TargetDatabase) -> list[object]:
    sandboxes, _ = open_neighbour_sandboxes(target)
    try:
        return [s.run("SELECT count(*) FROM singer").rows[0][0] for s in sandboxes]
    finally:
        for sandbox in sandboxes:
            sandbox.close()


def test_a_rebuild_after_the_reader_is_reprovisioned_restores_its_grants(
    data_dir: Path,
    engine: str,
    owner: tuple[str, str],
    target_db: TargetDatabase,
) -> None:
    close_all()
    build_engine_neighbours(target=target_db, owner_dsn=owner[0])
    counts = _count_on_neighbours(target_db)
    where, reader = owner
    options = (
        {"path": Path(where)}
        if engine == "duckdb"
        else {
            "admin_dsn": where,
            "dsn_env": "LOOPGATE_TARGET_SUITE",
            "reader_dsn": reader,
        }
    )
    close_all()
    load_target_database(
        source=SOURCE,
        engine=engine,
        name="concert_singer",
        acting_user=None,
        replace=True,
        **options,  # type: ignore[arg-type]
    )
    if engine == "mariadb":
        # Provisioning revokes every grant the reader held, neighbours' too.
        with pytest.raises(SandboxError):
            _count_on_neighbours(target_db)
    close_all()
    again = build_engine_neighbours(target=target_db, owner_dsn=owner[0])
    assert not again.rebuilt
    assert _count_on_neighbours(target_db) == counts


@pytest.mark.django_db
def test_build_neighbours_refuses_bad_input_naming_it(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.core.management.base import CommandError

    from targets.services import register_target_database

    register_target_database(
        name="lite",
        engine="sqlite",
        location="spider/database/concert_singer/concert_singer.sqlite",
        acting_user=None,
    )
    TargetDatabase.objects.create(
        name="pg", engine="postgresql", location="LOOPGATE_TEST_SUITE_UNSET"
    )
    monkeypatch.delenv("LOOPGATE_TEST_SUITE_UNSET", raising=False)
    cases = [
        (["nowhere"], "No target database named 'nowhere'"),
        (["lite"], "built on first use"),
        (["pg", "--count", "0"], "--count"),
        (["pg", "--admin-dsn-env", "LOOPGATE_TEST_SUITE_UNSET"], "is not set"),
        (["pg"], "owner's DSN is empty"),
    ]
    for args, message in cases:
        with pytest.raises(CommandError, match=message):
            call_command("build_neighbours", *args)
    assert not (data_dir / "neighbours").exists()


def test_neighbours_built_for_another_schema_or_count_are_stale(
    data_dir: Path,
    engine: str,
    lucky: PromptVersion,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    target_db: TargetDatabase,
) -> None:
    from evaluation.engine_neighbours import NeighboursUnavailable

    _build(engine)
    assert len(neighbour_locations(target_db)) == 5
    with pytest.raises(NeighboursUnavailable, match="stale"):
        neighbour_locations(target_db, count=3)
    target_db.schema = {**target_db.schema, "added": ["x"]}
    target_db.save(update_fields=["schema"])
    with pytest.raises(RunError, match="stale") as caught:
        finished_run(lucky, model_v1, snapshot, mode="suite")
    assert caught.value.field == "mode"  # type: ignore[attr-defined]


def test_a_neighbour_that_cannot_be_opened_closes_the_ones_already_open(
    data_dir: Path, target_db: TargetDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB only: the third neighbour's file is overwritten after the build."""
    if target_db.engine != "duckdb":
        pytest.skip("the file engine shows it without a server")
    _build("duckdb")
    import evaluation.engine_neighbours as engine_neighbours

    opened: list[Any] = []
    real = engine_neighbours.neighbour_sandbox

    def recording(**kwargs: Any) -> Any:
        sandbox = real(**kwargs)
        opened.append(sandbox)
        return sandbox

    monkeypatch.setattr(engine_neighbours, "neighbour_sandbox", recording)
    Path(neighbour_locations(target_db)[2]).write_bytes(b"not a database" * 512)
    with pytest.raises(SandboxError):
        open_neighbour_sandboxes(target_db)
    assert len(opened) == 2
    for sandbox in opened:
        with pytest.raises(SandboxError):
            sandbox.run("SELECT count(*) FROM singer")


def _neighbours_present(
    engine: str, owner_dsn: str, locations: list[str]
) -> list[bool]:
    if engine == "duckdb":
        return [Path(location).exists() for location in locations]
    if engine == "postgresql":
        import psycopg

        with psycopg.connect(owner_dsn) as conn:
            found = {
                name
                for (name,) in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname = ANY(%s)",
                    (locations,),
                )
            }
    else:
        import pymysql

        from targets.load_writers import mariadb_params

        mconn = pymysql.connect(**mariadb_params(owner_dsn))
        with mconn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            found = {name for (name,) in cur.fetchall()}
        mconn.close()
    return [location in found for location in locations]


def test_a_lower_count_drops_the_neighbours_no_longer_listed(
    data_dir: Path, engine: str, owner: tuple[str, str], target_db: TargetDatabase
) -> None:
    close_all()
    owner_dsn = "" if engine == "duckdb" else owner[0]
    first = build_engine_neighbours(target=target_db, owner_dsn=owner_dsn, count=4)
    assert _neighbours_present(engine, owner[0], list(first.locations)) == [True] * 4
    second = build_engine_neighbours(target=target_db, owner_dsn=owner_dsn, count=2)
    assert second.locations == first.locations[:2]
    assert second.removed == first.locations[2:]
    assert _neighbours_present(engine, owner[0], list(first.locations)) == [
        True,
        True,
        False,
        False,
    ]
    assert neighbour_locations(target_db, count=2) == second.locations


def test_a_hand_edited_manifest_cannot_make_the_build_drop_another_database(
    data_dir: Path, engine: str, owner: tuple[str, str], target_db: TargetDatabase
) -> None:
    close_all()
    owner_dsn = "" if engine == "duckdb" else owner[0]
    build_engine_neighbours(target=target_db, owner_dsn=owner_dsn, count=2)
    manifest_path = data_dir / "neighbours" / "concert_singer" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    planted = (
        str(data_dir / "elsewhere.duckdb")
        if engine == "duckdb"
        else manifest["locations"][0].split("__nb")[0]  # the target itself
    )
    manifest["locations"].append(planted)
    manifest["count"] = 3
    manifest_path.write_text(json.dumps(manifest))
    if engine == "duckdb":
        Path(planted).write_bytes(b"not a neighbour")
    with pytest.raises(NeighbourBuildError, match="is not a neighbour"):
        build_engine_neighbours(target=target_db, owner_dsn=owner_dsn, count=2)
    assert _neighbours_present(engine, owner[0], [planted]) == [True]
