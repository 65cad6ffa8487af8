"""load_target: a SQLite file copied into DuckDB, PostgreSQL and MariaDB."""

import io
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import duckdb
import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from targets.exceptions import TargetDatabaseError
from targets.load_plan import plan_load
from targets.loading import load_target_database
from targets.models import TargetDatabase

LOOSE = [
    "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    "CREATE TABLE child (id INT PRIMARY KEY, parent_id TEXT REFERENCES parent(id), "
    "score, label INTEGER, note TEXT, raw BLOB, flag bool, born DATETIME)",
    "INSERT INTO parent VALUES (1, 'Ann'), (2, 'bob')",
    "INSERT INTO child VALUES (1, '1', '', 7, 'x', x'00ff', 'T', '2010-01-02'),"
    " (2, '2', '12', 'n/a', 'y', x'6869', 'F', NULL),"
    " (3, NULL, 5, 3, '', NULL, 'T', '2011-05-06 10:00:00')",
]


def sqlite_file(path: Path, statements: list[str]) -> Path:
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)
    return path


@pytest.fixture
def loose(tmp_path: Path) -> Path:
    return sqlite_file(tmp_path / "loose.sqlite", LOOSE)


def duck_rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.django_db
def test_loose_sqlite_types_load_into_duckdb_without_losing_a_row(
    loose: Path, tmp_path: Path
) -> None:
    out = tmp_path / "loose.duckdb"
    result = load_target_database(
        source=loose, engine="duckdb", name="loose", acting_user=None, path=out
    )
    assert duck_rows(out, "SELECT count(*) FROM child") == [(3,)]
    rows = duck_rows(out, "SELECT * FROM child ORDER BY id")
    # '' in an integer column is NULL, '12' is 12; 'n/a' keeps label as text;
    # the invalid UTF-8 blob keeps raw binary; booleans and dates stay text.
    assert rows[0] == (1, 1, None, "7", "x", b"\x00\xff", "T", "2010-01-02")
    assert rows[1] == (2, 2, 12, "n/a", "y", b"hi", "F", None)
    assert rows[2][1] is None and rows[2][4] == ""
    changes = {(c.column, c.change): c.count for c in result.plan.coercions}
    assert changes[("score", "empty string stored as NULL")] == 1
    assert changes[("score", "numeric text as number")] == 1
    assert ("label", "column widened from integer to text") in changes
    assert changes[("label", "number stored as text")] == 2
    assert changes[("parent_id", "numeric text as integer, like parent.id it "
                    "references")] == 2  # fmt: skip
    # The foreign key survives once parent_id holds integers, as in SQLite joins.
    fks = duck_rows(
        out,
        "SELECT constraint_type FROM information_schema.table_constraints "
        "WHERE table_name = 'child' ORDER BY 1",
    )
    assert ("FOREIGN KEY",) in fks and ("PRIMARY KEY",) in fks
    target = result.target
    assert (target.engine, target.location, result.created) == (
        "duckdb",
        str(out),
        True,
    )
    assert target.schema["child"][:3] == ["id", "parent_id", "score"]
    event = AuditEvent.objects.get(event_type="targets.target_database.loaded")
    assert event.data["rows"] == 5 and event.data["created"] is True


@pytest.mark.django_db
def test_a_second_load_is_refused_and_replace_swaps_the_file(
    loose: Path, tmp_path: Path
) -> None:
    out = tmp_path / "loose.duckdb"
    load_target_database(
        source=loose, engine="duckdb", name="loose", acting_user=None, path=out
    )
    with pytest.raises(TargetDatabaseError) as refused:
        load_target_database(
            source=loose, engine="duckdb", name="loose", acting_user=None, path=out
        )
    assert refused.value.field == "replace"
    with sqlite3.connect(loose) as conn:
        conn.execute("INSERT INTO parent VALUES (3, 'cy')")
    again = load_target_database(
        source=loose,
        engine="duckdb",
        name="loose",
        acting_user=None,
        path=out,
        replace=True,
    )
    assert not again.created
    assert duck_rows(out, "SELECT count(*) FROM parent") == [(3,)]
    assert TargetDatabase.objects.count() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "loose.duckdb",
        "loose.sqlite",
    ]


def test_constraints_the_data_breaks_are_listed_and_rows_kept(tmp_path: Path) -> None:
    path = sqlite_file(
        tmp_path / "broken.sqlite",
        [
            "CREATE TABLE a (k TEXT PRIMARY KEY, v INT NOT NULL)",
            "CREATE TABLE b (id INT, a_k TEXT REFERENCES a(k), "
            "a_v INT REFERENCES a(v))",
            "INSERT INTO a VALUES ('x', 1), (NULL, 2), (NULL, '')",
            "INSERT INTO b VALUES (1, 'zz', 1)",
        ],
    )
    plan = plan_load(path)
    assert plan.row_count == 4
    dropped = "\n".join(plan.dropped)
    assert "a: PRIMARY KEY ('k',) left out (NULL or duplicate)" in dropped
    assert "a.v: NOT NULL left out (coerced NULLs)" in dropped
    assert "b: FOREIGN KEY ('a_k',) -> a left out" in dropped
    assert "b: FOREIGN KEY ('a_v',) -> a left out" in dropped
    a = next(t for t in plan.tables if t.name == "a")
    assert a.primary_key == () and not a.columns[1].not_null


@pytest.mark.django_db
def test_bad_input_is_a_clear_error_naming_what_is_wrong(
    loose: Path, tmp_path: Path
) -> None:
    def load(*args: str) -> str:
        with pytest.raises(CommandError) as exc:
            call_command("load_target", *args, stdout=io.StringIO())
        return str(exc.value)

    base = ["--from", str(loose), "--name", "x"]
    assert "DuckDB takes --path" in load(*base, "--engine", "duckdb",
                                         "--admin-dsn-env", "HOME")  # fmt: skip
    assert "*.duckdb" in load(*base, "--engine", "duckdb", "--path", str(tmp_path))
    missing = tmp_path / "nope.sqlite"
    assert f"No SQLite file at {missing}" in load(
        "--from", str(missing), "--name", "x", "--engine", "duckdb",
        "--path", str(tmp_path / "x.duckdb"),
    )  # fmt: skip
    not_sqlite = tmp_path / "text.sqlite"
    not_sqlite.write_text("hello")
    assert "Cannot read" in load("--from", str(not_sqlite), "--name", "x",
                                 "--engine", "duckdb", "--path",
                                 str(tmp_path / "y.duckdb"))  # fmt: skip
    assert "LOOPGATE_UNSET_X is not set" in load(
        *base, "--engine", "postgresql", "--admin-dsn-env", "LOOPGATE_UNSET_X"
    )
    assert "names are letters" in load("--from", str(loose), "--name", "a b",
                                       "--engine", "duckdb", "--path",
                                       str(tmp_path / "z.duckdb"))  # fmt: skip
    assert not TargetDatabase.objects.exists()


@pytest.mark.django_db
def test_a_name_registered_elsewhere_is_refused(loose: Path, tmp_path: Path) -> None:
    TargetDatabase.objects.create(name="taken", engine="sqlite", location="x.sqlite")
    with pytest.raises(TargetDatabaseError) as exc:
        load_target_database(
            source=loose,
            engine="duckdb",
            name="taken",
            acting_user=None,
            path=tmp_path / "t.duckdb",
        )
    assert exc.value.field == "name"
    assert not (tmp_path / "t.duckdb").exists()


@pytest.fixture
def pg_owned_database() -> Iterator[tuple[str, str]]:
    """A scratch PostgreSQL database owned by the test's admin role, and the
    DSN its reader will have."""
    import psycopg
    from psycopg import sql

    from tests.helpers import admin_dsn, with_dbname

    admin = admin_dsn()
    suffix = uuid.uuid4().hex[:8]
    name, role = f"loopgate_c_load_{suffix}", f"lg_ro_load_{suffix}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        reader = with_dbname(admin, name, user=role) + f" password=pw-{role}"
        yield with_dbname(admin, name), reader
    finally:
        from targets.sandbox import close_all

        close_all()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.mark.postgres
@pytest.mark.django_db
def test_loading_into_postgres_provisions_a_reader_that_sees_the_rows(
    loose: Path, pg_owned_database: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from targets.execution import run_on_target

    owner, reader = pg_owned_database
    monkeypatch.setenv("LOOPGATE_TARGET_LOADTEST", reader)
    result = load_target_database(
        source=loose,
        engine="postgresql",
        name="loose-pg",
        acting_user=None,
        admin_dsn=owner,
        dsn_env="LOOPGATE_TARGET_LOADTEST",
        reader_dsn=os.environ["LOOPGATE_TARGET_LOADTEST"],
    )
    assert result.reader_role in reader and result.reader_dsn == ""
    # Names are lowercased, so SQLite's mixed-case spelling still resolves.
    got = run_on_target(result.target, "SELECT Name FROM Parent ORDER BY Name")
    # Bytewise order, as SQLite sorts: 'Ann' before 'bob'.
    assert got.rows == [("Ann",), ("bob",)]
    assert result.target.schema["child"][1] == "parent_id"
    with pytest.raises(TargetDatabaseError, match="already holds"):
        load_target_database(
            source=loose, engine="postgresql", name="loose-pg", acting_user=None,
            admin_dsn=owner, dsn_env="LOOPGATE_TARGET_LOADTEST",
            reader_dsn=reader,
        )  # fmt: skip
    with sqlite3.connect(loose) as conn:
        conn.execute("DELETE FROM child")
    load_target_database(
        source=loose, engine="postgresql", name="loose-pg", acting_user=None,
        admin_dsn=owner, dsn_env="LOOPGATE_TARGET_LOADTEST", reader_dsn=reader,
        replace=True,
    )  # fmt: skip
    assert run_on_target(result.target, "SELECT count(*) FROM child").rows == [(0,)]


@pytest.fixture
def mariadb_owned_database() -> Iterator[str]:
    """A scratch MariaDB database; its DSN as the owner."""
    import pymysql

    from targets.load_writers import mariadb_params

    url = urlsplit(os.environ["MARIADB_ADMIN_URL"])
    name = f"{url.path.strip('/') or 'mariadb'}_load_{uuid.uuid4().hex[:8]}"
    owner = urlunsplit((url.scheme, url.netloc, f"/{name}", "", ""))
    params = mariadb_params(owner)
    params.pop("database")
    conn = pymysql.connect(**params, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    try:
        yield owner
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@pytest.mark.mariadb
def test_loading_into_mariadb_keeps_rows_keys_and_sqlite_text_order(
    loose: Path, mariadb_owned_database: str
) -> None:
    import pymysql

    from targets.load_writers import LoadError, mariadb_params, write_mariadb

    plan = plan_load(loose)
    schema = write_mariadb(plan, dsn=mariadb_owned_database, replace=False)
    assert schema["child"][:2] == ["id", "parent_id"]
    conn = pymysql.connect(**mariadb_params(mariadb_owned_database))
    with conn.cursor() as cur:
        cur.execute("SELECT name FROM parent ORDER BY name")
        assert cur.fetchall() == (("Ann",), ("bob",))
        cur.execute("SELECT count(*) FROM parent WHERE name = 'ann'")
        assert cur.fetchall() == ((0,),)  # case-sensitive, as in SQLite
        cur.execute("SELECT count(*) FROM child WHERE note = 'x '")
        assert cur.fetchall() == ((0,),)  # no trailing-space padding
        cur.execute("SELECT raw FROM child WHERE id = 1")
        assert cur.fetchall() == ((b"\x00\xff",),)
    conn.close()
    with pytest.raises(LoadError, match="already holds"):
        write_mariadb(plan, dsn=mariadb_owned_database, replace=False)
    write_mariadb(plan, dsn=mariadb_owned_database, replace=True)


@pytest.mark.mariadb
@pytest.mark.django_db
def test_loading_into_mariadb_provisions_a_reader_and_registers_the_target(
    loose: Path, mariadb_owned_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pymysql

    from targets.execution import run_on_target
    from targets.load_writers import mariadb_params

    params = mariadb_params(mariadb_owned_database)
    role = f"{params['database']}_r"[:80]
    host = f"{params['host']}:{params['port']}"
    reader = f"mysql://{role}:pw-{role}@{host}/{params['database']}"
    monkeypatch.setenv("LOOPGATE_TARGET_LOADTEST_M", reader)
    try:
        result = load_target_database(
            source=loose, engine="mariadb", name="loose-m", acting_user=None,
            admin_dsn=mariadb_owned_database, dsn_env="LOOPGATE_TARGET_LOADTEST_M",
            reader_dsn=reader,
        )  # fmt: skip
        assert (result.reader_role, result.reader_dsn) == (role, "")
        got = run_on_target(result.target, "SELECT name FROM parent ORDER BY name")
        assert got.rows == [("Ann",), ("bob",)]
        assert result.target.schema["parent"] == ["id", "name"]
    finally:
        from targets.sandbox import close_all

        close_all()
        admin = {k: v for k, v in params.items() if k != "database"}
        conn = pymysql.connect(**admin, autocommit=True)
        with conn.cursor() as cur:
            cur.execute("DROP USER IF EXISTS %s@'%%'", (role,))
        conn.close()


def test_default_reader_names_fit_mariadb_and_never_collide() -> None:
    from targets.loading import reader_role_name

    assert reader_role_name("concert_singer") == "lg_ro_concert_singer"
    names = ["a-b", "a_b", "student_transcripts_tracking", "student_transcripts_tr"]
    roles = [reader_role_name(n) for n in names]
    assert len(set(roles)) == len(roles)
    assert all(len(r) <= 32 and r.startswith("lg_ro_") for r in roles)
