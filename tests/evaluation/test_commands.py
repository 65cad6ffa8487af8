"""The score_predictions, import_goldens and provision_target_role commands."""

import csv
import io
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from evaluation.models import GoldenExample, GoldenSetSnapshot
from evaluation.scoring import prepare_gold, results_equal, score_item
from evaluation.services import add_manual_golden_example
from targets.execution import run_on_target
from targets.sandbox import (
    SandboxError,
    close_all,
    sandbox_for,
)
from targets.schema import sqlglot_schema
from targets.services import register_target_database

DATA = Path(__file__).resolve().parents[2] / "data"
SPIDER = DATA / "spider"
DB_DIR = SPIDER / "database"
GOLD = SPIDER / "dev_gold.sql"
C3SQL = DATA / "conformance" / "c3sql_predicted_sql.txt"
OFFICIAL = DATA / "conformance" / "c3sql_official_exec.tsv"


def run(*args: str, **options: object) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


# --- score_predictions ----------------------------------------------------------


def test_score_predictions_reports_c3sql_like_the_official_evaluator(
    tmp_path: Path,
) -> None:
    out_csv = tmp_path / "items.csv"
    output = run(
        "score_predictions",
        str(GOLD),
        str(C3SQL),
        db_dir=str(DB_DIR),
        tables=str(SPIDER / "tables.json"),
        csv=str(out_csv),
    )
    lines = output.splitlines()
    assert lines[0].startswith("Scored 972 of 1034 items (mode spider")
    assert "  wta_1: 62 (database file missing)" in lines
    table = {line[:20].strip(): line[20:].split() for line in lines if line[:1] != " "}
    assert lines[lines.index("") + 1].split() == [
        "easy", "medium", "hard", "extra", "all",
    ]  # fmt: skip
    assert table["count"] == ["232", "416", "160", "164", "972"]
    assert table["not runnable"] == ["16", "30", "14", "2", "62"]
    assert table["execution accuracy"][-1] == "0.827"  # 804 / 972
    assert table["executed"][-1] == "0.998"
    with OFFICIAL.open() as handle:
        official = {
            int(r["idx"]): r["official_testsuite_exec"]
            for r in csv.DictReader(handle, delimiter="\t")
        }
    with out_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "index", "db", "hardness", "exact_match", "executed", "execution_match",
        "row_count_ok", "error",
    ]  # fmt: skip
    assert len(rows) == 1034
    for row in rows:
        verdict = official[int(row["index"])]
        if verdict == "NA":
            assert row["execution_match"] == ""
            assert row["error"] == "not runnable: database file missing"
        else:
            assert row["execution_match"] == verdict, row
    assert rows[770]["executed"] == "0"  # truncated at its first tab, as officially


def _small_files(tmp_path: Path, pairs: list[tuple[str, str]]) -> tuple[Path, Path]:
    gold, pred = tmp_path / "gold.sql", tmp_path / "pred.sql"
    gold.write_text("".join(f"{g}\tconcert_singer\n" for g, _ in pairs))
    pred.write_text("".join(f"{p}\n" for _, p in pairs))
    return gold, pred


@pytest.mark.parametrize(
    ("mode", "ex_all"), [("spider", "1.000"), ("bird", "0.500"), ("strict", "0.000")]
)
def test_score_predictions_modes_differ_as_documented(
    tmp_path: Path, mode: str, ex_all: str
) -> None:
    gold, pred = _small_files(
        tmp_path,
        [
            # Same rows, columns swapped: only spider mode permutes columns.
            ("SELECT name, age FROM singer", "SELECT age, name FROM singer"),
            # Duplicates dropped: spider strips DISTINCT from both queries, bird
            # compares sets, strict compares the lists.
            ("SELECT country FROM singer", "SELECT DISTINCT country FROM singer"),
        ],
    )
    output = run(
        "score_predictions", str(gold), str(pred), db_dir=str(DB_DIR), mode=mode
    )
    assert f"(mode {mode}," in output
    ex = next(line for line in output.splitlines() if line.startswith("execution"))
    assert ex.split()[-1] == ex_all


def test_score_predictions_counts_gate_rejections_as_not_executed(
    tmp_path: Path,
) -> None:
    gold, pred = _small_files(
        tmp_path,
        [
            ("SELECT count(*) FROM singer", "DELETE FROM singer"),
            ("SELECT count(*) FROM singer", "SELECT count(*) FROM singer"),
        ],
    )
    out_csv = tmp_path / "out.csv"
    output = run(
        "score_predictions", str(gold), str(pred), db_dir=str(DB_DIR), csv=str(out_csv)
    )
    assert "Scored 2 of 2 items" in output
    with out_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["executed"] for r in rows] == ["0", "1"]
    assert rows[0]["error"]
    assert [r["execution_match"] for r in rows] == ["0", "1"]


def test_score_predictions_errors_are_clear(tmp_path: Path) -> None:
    gold, pred = _small_files(tmp_path, [("SELECT 1", "SELECT 1")])
    short = tmp_path / "short.sql"
    short.write_text("")
    cases = [
        ((str(tmp_path / "nope.sql"), str(pred)), {}, "Gold file not found"),
        ((str(gold), str(tmp_path / "nope.sql")), {}, "Predictions file not found"),
        ((str(gold), str(pred)), {"db_dir": str(tmp_path / "no")}, "Database folder"),
        ((str(gold), str(short)), {}, "has 1 items but the predictions file has 0"),
        ((str(gold), str(pred)), {"mode": "fuzzy"}, "Unknown mode 'fuzzy'"),
        ((str(gold), str(pred)), {"tables": str(tmp_path / "t.json")}, "Tables file"),
    ]
    for args, options, message in cases:
        with pytest.raises(CommandError, match=message):
            run("score_predictions", *args, **{"db_dir": str(DB_DIR), **options})
    bad_gold = tmp_path / "bad.sql"
    bad_gold.write_text("SELECT 1 with no tab\n")
    with pytest.raises(CommandError, match="without exactly one tab"):
        run("score_predictions", str(bad_gold), str(pred), db_dir=str(DB_DIR))


# --- import_goldens -------------------------------------------------------------


@pytest.mark.django_db
def test_import_goldens_prints_created_reused_skipped_and_stale() -> None:
    options = {
        "format": "spider",
        "questions": str(SPIDER / "dev.json"),
        "tables": str(SPIDER / "tables.json"),
        "db_dir": str(DB_DIR),
        "databases": "concert_singer,wta_1",
        "limit_per_db": 2,
        "snapshot": "two",
    }
    output = run("import_goldens", **options)
    assert output.splitlines() == [
        "Target databases: created 1 (concert_singer); reused 0",
        "Golden examples: created 2, reused 0, skipped 2",
        "  skipped wta_1: 2 (database file missing)",
        f"Snapshot 'two' {GoldenSetSnapshot.objects.get().content_hash[:12]}: "
        "2 examples (created)",
        "Golden set: 2 active, 0 retired, 0 stale (older than 180 days)",
    ]
    again = run("import_goldens", **{**options, "questions": None, "gold": str(GOLD)})
    assert "Golden examples: created 0, reused 2, skipped 2" in again
    assert "examples (reused, same content)" in again
    assert GoldenExample.objects.count() == 2


@pytest.mark.django_db
def test_import_goldens_reads_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "ours.jsonl"
    row = {
        "question": "Singers?",
        "sql": "SELECT name FROM singer",
        "db": "concert_singer",
        "difficulty": "easy",
    }
    path.write_text(f"{json.dumps(row)}\n")
    output = run("import_goldens", format="jsonl", file=str(path), db_dir=str(DB_DIR))
    assert "Golden examples: created 1, reused 0, skipped 0" in output
    assert GoldenExample.objects.get().target_database.name == "concert_singer"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"format": "spider", "questions": str(SPIDER / "dev.json")}, "--tables"),
        (
            {"format": "spider", "questions": str(SPIDER / "dev.json"),
             "gold": str(GOLD), "tables": str(SPIDER / "tables.json"),
             "db_dir": str(DB_DIR)},
            "either a questions file or a gold file",
        ),
        (
            {"format": "spider", "questions": "/nope/dev.json",
             "tables": str(SPIDER / "tables.json"), "db_dir": str(DB_DIR)},
            "No such file",
        ),
        (
            {"format": "spider", "questions": str(SPIDER / "dev.json"),
             "tables": str(SPIDER / "tables.json"), "db_dir": "/nope"},
            "Database folder not found",
        ),
        ({"format": "jsonl"}, "needs --file"),
        ({"format": "jsonl", "file": "x.jsonl", "owner": "ghost"}, "No user"),
        ({"format": "jsonl", "file": "x.jsonl", "limit_per_db": 0}, "at least 1"),
    ],
)  # fmt: skip
def test_import_goldens_refuses_bad_options(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        run("import_goldens", **options)
    assert not GoldenExample.objects.exists()


def test_provision_target_role_needs_the_admin_dsn_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LOOPGATE_TEST_UNSET_DSN", raising=False)
    with pytest.raises(CommandError, match="LOOPGATE_TEST_UNSET_DSN is not set"):
        run("provision_target_role", "reader", admin_dsn_env="LOOPGATE_TEST_UNSET_DSN")


# --- PostgreSQL target, end to end ------------------------------------------------


def _with(dsn: str, **changes: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    return make_conninfo(**{**conninfo_to_dict(dsn), **changes})


def _pg_type(values: list[object]) -> str:
    # Spider's SQLite columns are loosely typed (concert.Stadium_ID holds the
    # text '1' and joins stadium's integer 1): type each column by its values.
    present = [v for v in values if v is not None]
    if present and all(
        isinstance(v, int) or (isinstance(v, str) and v.isdigit()) for v in present
    ):
        return "bigint"
    if present and all(isinstance(v, int | float) for v in present):
        return "double precision"
    return "text"


def _copy_sqlite(sqlite_file: Path, dsn: str) -> None:
    """Copy every table, with lowercase names so Spider's unquoted SQL works."""
    import psycopg
    from psycopg import sql

    source = sqlite3.connect(sqlite_file)
    tables = [
        r[0]
        for r in source.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%'"
        )
    ]
    with psycopg.connect(dsn) as conn:
        for table in tables:
            cursor = source.execute(f'SELECT * FROM "{table}"')  # noqa: S608
            names = [d[0].lower() for d in cursor.description]
            rows = cursor.fetchall()
            columns = sql.SQL(", ").join(
                sql.SQL("{} {}").format(
                    sql.Identifier(name), sql.SQL(_pg_type([r[i] for r in rows]))
                )
                for i, name in enumerate(names)
            )
            ident = sql.Identifier(table.lower())
            conn.execute(sql.SQL("CREATE TABLE {} ({})").format(ident, columns))
            copy = sql.SQL("COPY {} FROM STDIN").format(ident)
            with conn.cursor().copy(copy) as writer:
                for row in rows:
                    writer.write_row(row)
    source.close()


@pytest.fixture
def pg_concert_singer() -> Iterator[tuple[str, str]]:
    """A scratch PostgreSQL copy of concert_singer: (owner DSN, reader role name)."""
    import psycopg
    from psycopg import sql

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.skip("DATABASE_URL is not PostgreSQL")
    suffix = uuid.uuid4().hex[:10]
    name, role = f"loopgate_tgt_{suffix}", f"loopgate_reader_{suffix}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        admin = _with(url, dbname=name)
        _copy_sqlite(DB_DIR / "concert_singer" / "concert_singer.sqlite", admin)
        yield admin, role
    finally:
        close_all()
        # Dropping the database removes the role's grants in it (including the
        # database CONNECT grant and default privileges); then the role can go.
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgres_target_from_provisioning_to_a_scored_golden_query(
    pg_concert_singer: tuple[str, str], monkeypatch: pytest.MonkeyPatch, ml_lead: User
) -> None:
    admin, role = pg_concert_singer
    monkeypatch.setenv("LOOPGATE_TEST_ADMIN_DSN", admin)
    try:
        dsn = run(
            "provision_target_role", role, admin_dsn_env="LOOPGATE_TEST_ADMIN_DSN"
        ).strip()
        # Rerunning tightens the same role instead of failing.
        dsn = run(
            "provision_target_role", role, admin_dsn_env="LOOPGATE_TEST_ADMIN_DSN"
        ).strip()
        monkeypatch.setenv("LOOPGATE_TARGET_CONCERTS_DSN", dsn)
        target = register_target_database(
            name="concerts-pg",
            engine="postgresql",
            location="LOOPGATE_TARGET_CONCERTS_DSN",
            acting_user=None,
            restrict_location=True,
        )
        assert target.dialect == "postgres"
        assert target.schema["singer"] == [
            "singer_id", "name", "country", "song_name", "song_release_year",
            "age", "is_male",
        ]  # fmt: skip
        gold_sql = (
            "SELECT T2.name, count(*) FROM concert AS T1 JOIN stadium AS T2 "
            "ON T1.stadium_id = T2.stadium_id GROUP BY T2.name"
        )
        example = add_manual_golden_example(
            target_database=target,
            question="How many concerts per stadium?",
            sql=gold_sql,
            acting_user=ml_lead,
        )
        assert example.difficulty == "medium"
        sandbox = sandbox_for("postgresql", dsn)
        schema = sqlglot_schema(target.schema)
        gold = prepare_gold(example.sql, sandbox, dialect="postgres", schema=schema)
        sqlite_rows = sandbox_for(
            "sqlite", DB_DIR / "concert_singer" / "concert_singer.sqlite"
        ).run(gold_sql)
        assert results_equal(
            sqlite_rows.rows, gold.rows, mode="spider", order_matters=False
        )
        right = score_item(
            "SELECT count(*), s.name FROM stadium s JOIN concert c "
            "ON c.stadium_id = s.stadium_id GROUP BY s.name",
            gold, sandbox, dialect="postgres", schema=schema,
        )  # fmt: skip
        assert (right.executed, right.execution_match) == (True, True)
        same = score_item(gold_sql, gold, sandbox, dialect="postgres", schema=schema)
        assert (same.exact_match, same.execution_match) == (True, True)
        wrong = score_item(
            "SELECT name, 1 FROM stadium", gold, sandbox, dialect="postgres"
        )
        assert (wrong.executed, wrong.execution_match) == (True, False)
        with pytest.raises(SandboxError):
            sandbox.run("DELETE FROM singer")
        with pytest.raises(SandboxError):
            sandbox.run("CREATE TABLE evil (x int)")
        assert run_on_target(target, "SELECT count(*) FROM singer").rows == [(6,)]
    finally:
        close_all()
