"""score_predictions across processes, its --jobs option and its cheap start-up."""

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from django.core.management import call_command
from django.core.management.base import CommandError

from evaluation.exact_match import normalize_sql, normalize_tree, prepare_schema
from evaluation.prediction_files import score_prediction_file
from evaluation.scoring import (
    SQLGLOT_VERSION,
    only_trailing_semicolons,
    spider_prepare,
)
from evaluation.spider import load_tables, read_gold, read_predictions
from targets.sandbox import SqliteSandbox
from targets.sqlgate import SQLRejected, check_sql, checked_statement

ROOT = Path(__file__).resolve().parents[2]
SPIDER = ROOT / "data" / "spider"
DB_DIR = SPIDER / "database"
GOLD = SPIDER / "dev_gold.sql"
C3SQL = ROOT / "data" / "conformance" / "c3sql_predicted_sql.txt"
TABLES = SPIDER / "tables.json"


def _score_rows(tmp_path: Path, jobs: int) -> tuple[str, list[dict[str, str]]]:
    out_csv = tmp_path / f"items-{jobs}.csv"
    output = io.StringIO()
    call_command(
        "score_predictions",
        str(GOLD),
        str(C3SQL),
        db_dir=str(DB_DIR),
        tables=str(SPIDER / "tables.json"),
        csv=str(out_csv),
        jobs=jobs,
        stdout=output,
    )
    with out_csv.open() as handle:
        return output.getvalue(), list(csv.DictReader(handle))


def test_several_jobs_give_the_same_per_item_verdicts_as_one(tmp_path: Path) -> None:
    one_report, one = _score_rows(tmp_path, 1)
    three_report, three = _score_rows(tmp_path, 3)
    assert len(one) == len(three) == 1034
    # Every column of every item, in file order: EX, EM, executed, row count, error.
    assert three == one
    assert "1 process)" in one_report.splitlines()[0]
    assert "3 processes)" in three_report.splitlines()[0]
    # The tables below the first line do not depend on the process count.
    assert three_report.splitlines()[1:-1] == one_report.splitlines()[1:-1]
    assert sum(row["execution_match"] == "1" for row in three) == 804


def _small_files(tmp_path: Path) -> tuple[Path, Path]:
    gold, pred = tmp_path / "gold.sql", tmp_path / "pred.sql"
    gold.write_text(
        "SELECT count(*) FROM singer\tconcert_singer\n"
        "SELECT name FROM singer\tconcert_singer\n"
        "SELECT count(*) FROM pets\tpets_1\n"
        "SELECT 1\tno_such_db\n"
    )
    pred.write_text(
        "SELECT count(*) FROM singer\nSELECT name FROM stadium\n"
        "SELECT count(*) FROM pets\nSELECT 1\n"
    )
    return gold, pred


@pytest.mark.parametrize("jobs", ["0", "-2", "two", "1.5"])
def test_jobs_on_the_command_line_must_be_a_positive_whole_number(
    tmp_path: Path, jobs: str
) -> None:
    gold, pred = _small_files(tmp_path)
    with pytest.raises(CommandError, match="argument --jobs"):
        call_command(
            "score_predictions", str(gold), str(pred), "--db-dir", str(DB_DIR),
            f"--jobs={jobs}",
        )  # fmt: skip


@pytest.mark.parametrize("jobs", [0, -1])
def test_jobs_passed_as_an_option_must_be_positive(tmp_path: Path, jobs: int) -> None:
    gold, pred = _small_files(tmp_path)
    with pytest.raises(CommandError, match=r"--jobs must be .* at least 1"):
        call_command(
            "score_predictions", str(gold), str(pred), db_dir=str(DB_DIR), jobs=jobs
        )


def test_the_command_applies_the_sandbox_settings(
    tmp_path: Path, settings: Any
) -> None:
    settings.SANDBOX_MAX_RESULT_BYTES = 500_000
    gold, pred = tmp_path / "gold.sql", tmp_path / "pred.sql"
    # 36 rows of 50 kB: over the cap set above, far under the default one.
    gold.write_text("SELECT zeroblob(50000) FROM singer a, singer b\tconcert_singer\n")
    pred.write_text("SELECT 1\n")
    output = io.StringIO()
    call_command(
        "score_predictions", str(gold), str(pred), db_dir=str(DB_DIR), stdout=output
    )
    assert "concert_singer: 1 (golden result too large)" in output.getvalue()


# The start-up test runs manage.py itself, then lists what the process imported.
_PROBE = """
import json, runpy, sys
sys.argv = ["manage.py", "score_predictions", *sys.argv[1:]]
runpy.run_path("manage.py", run_name="__main__")
from django.apps import apps
print(json.dumps({"apps_ready": apps.ready, "modules": sorted(sys.modules)}))
"""
# Loaded by django.setup() (admin, DRF, the model backends), by the system
# checks (URLs) or by other engines' sandboxes; scoring needs none of them.
HEAVY = [
    "django.contrib.admin",
    "rest_framework",
    "drf_spectacular",
    "openai",
    "psycopg",
    "duckdb",
    "pymysql",
    "evaluation.models",
    "targets.models",
    "config.urls",
    # config/__init__.py no longer imports the Celery app; Django loads it.
    "celery",
    "kombu",
    # Only --mode suite needs the neighbour databases.
    "evaluation.suite",
    "evaluation.neighbours",
]


def test_manage_py_scores_without_loading_apps_admin_or_backends(
    tmp_path: Path,
) -> None:
    gold, pred = _small_files(tmp_path)
    args = [str(gold), str(pred), "--db-dir", str(DB_DIR), "--jobs", "2"]
    env = {**os.environ, "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run(  # noqa: S603 - fixed interpreter and arguments
        [sys.executable, "-c", _PROBE, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    *report, last = done.stdout.strip().splitlines()
    assert report[0] == (
        f"Scored 3 of 4 items (mode spider, sqlglot {SQLGLOT_VERSION}, 2 processes)."
    )
    assert "  no_such_db: 1 (database file missing)" in report
    probe = json.loads(last)
    assert probe["apps_ready"] is False
    loaded = [
        name
        for name in probe["modules"]
        if any(name == heavy or name.startswith(f"{heavy}.") for heavy in HEAVY)
    ]
    assert loaded == []
    assert "evaluation.prediction_files" in probe["modules"]


@pytest.mark.parametrize("with_tables", [True, False], ids=["tables", "no-tables"])
def test_shared_parses_and_prepared_schemas_leave_exact_match_unchanged(
    with_tables: bool,
) -> None:
    # The file scorer parses each query once (the gate's tree, the hardness tree)
    # and prepares each schema once; the canonical EM path (normalize_sql, as
    # bench/exact_match.py and the EM tests call it) parses and builds the schema
    # per call. Same EM on every item, with and without --tables.
    report = score_prediction_file(
        gold_path=GOLD,
        pred_path=C3SQL,
        db_dir=DB_DIR,
        tables_path=TABLES if with_tables else None,
    )
    tables = load_tables(TABLES)
    gold, preds = read_gold(GOLD), read_predictions(C3SQL)
    shared = 0
    for item in report.scored:
        assert item.score is not None
        schema = tables[item.db].sqlglot_schema() if with_tables else None
        gold_norm = normalize_sql(gold[item.index].query, schema=schema)
        pred_norm = normalize_sql(preds[item.index], schema=schema)
        expected = pred_norm is not None and pred_norm == gold_norm
        assert item.score.exact_match == expected, item.index
        pred = preds[item.index]
        shared += spider_prepare(pred, prediction=True) == pred and (
            only_trailing_semicolons(pred)
        )
    assert len(report.scored) == 972
    # Most predictions go through the shared-tree path, so it is what is compared.
    assert shared > 800
    em = report.summary["overall"]["em"]
    # The canonical EM's C3SQL figures (README, bench/exact_match.py).
    assert round(em, 3) == (0.473 if with_tables else 0.456)


def test_normalize_tree_is_normalize_sql_of_the_parsed_query() -> None:
    schema = load_tables(TABLES)["concert_singer"].sqlglot_schema()
    prepared = prepare_schema(schema)
    sql = 'SELECT name FROM singer WHERE country = "France" ORDER BY age'
    expected = normalize_sql(sql, schema=schema)
    assert expected is not None
    assert "'France'" in expected  # a value, not a column, thanks to the schema
    assert normalize_sql(sql, schema=prepared) == expected
    assert normalize_tree(sqlglot.parse_one(sql, read="sqlite"), schema=prepared) == (
        expected
    )
    with pytest.raises(ValueError, match="prepared for 'sqlite'"):
        normalize_sql(sql, dialect="postgres", schema=prepared)


# Spellings the canonical EM makes equal (join order, ON against WHERE, IN lists,
# aliases): a shared tree and a prepared schema must give the same canonical text.
_EQUIVALENT = (
    "SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 "
    "ON T1.singer_id = T2.singer_id WHERE T2.concert_id IN (1, 2);",
    "SELECT s.name FROM singer_in_concert AS c, singer AS s "
    "WHERE (c.concert_id = 2 OR c.concert_id = 1) AND s.singer_id = c.singer_id",
)


@pytest.mark.parametrize("with_tables", [True, False], ids=["tables", "no-tables"])
def test_the_gates_tree_and_a_prepared_schema_give_the_canonical_text(
    with_tables: bool,
) -> None:
    schema = load_tables(TABLES)["concert_singer"].sqlglot_schema()
    plain = schema if with_tables else None
    prepared = prepare_schema(schema) if with_tables else None
    texts = set()
    for sql in _EQUIVALENT:
        expected = normalize_sql(sql, schema=plain)
        assert expected is not None
        _, tree = checked_statement(sql, dialect="sqlite")
        assert normalize_tree(tree, schema=prepared) == expected
        assert normalize_sql(sql, schema=prepared) == expected
        texts.add(expected)
    assert len(texts) == 1


def test_checked_statement_returns_check_sql_text_and_the_checked_tree() -> None:
    text, tree = checked_statement("  SELECT name FROM singer ;; ", dialect="sqlite")
    assert text == check_sql("  SELECT name FROM singer ;; ", dialect="sqlite")
    assert text == "SELECT name FROM singer"
    assert tree.sql(dialect="sqlite") == "SELECT name FROM singer"
    with pytest.raises(SQLRejected):
        checked_statement("DELETE FROM singer", dialect="sqlite")


@pytest.mark.parametrize(
    ("sql", "shareable"),
    [
        ("SELECT 1", True),
        ("SELECT 1; ", True),
        ("SELECT 1;;", True),
        ("SELECT 1; SELECT 2", False),
        ("SELECT 1; ;", False),
        ("SELECT ';'", False),  # conservative: the parse is not shared
    ],
)
def test_a_tree_is_shared_only_without_a_semicolon_before_the_end(
    sql: str, shareable: bool
) -> None:
    assert only_trailing_semicolons(sql) is shareable


def test_a_golden_query_asked_twice_in_a_row_runs_once_with_the_same_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gold, pred = tmp_path / "gold.sql", tmp_path / "pred.sql"
    gold.write_text(
        "SELECT count(*) FROM singer\tconcert_singer\n"
        "SELECT count(*) FROM singer\tconcert_singer\n"
        "SELECT name FROM stadium\tconcert_singer\n"
    )
    pred.write_text("SELECT count(*) FROM singer\nSELECT 1\nSELECT name FROM stadium\n")
    runs: list[str] = []
    real_run = SqliteSandbox.run

    def counted(self: SqliteSandbox, sql: str, **kwargs: Any) -> Any:
        runs.append(sql)
        return real_run(self, sql, **kwargs)

    monkeypatch.setattr(SqliteSandbox, "run", counted)
    report = score_prediction_file(
        gold_path=gold, pred_path=pred, db_dir=DB_DIR, tables_path=TABLES
    )
    # Two golden queries and three predictions: the repeated golden ran once.
    assert len(runs) == 5
    verdicts = [
        (item.hardness, item.score.execution_match, item.score.exact_match)
        for item in report.items
        if item.score is not None
    ]
    assert verdicts == [
        ("easy", True, True),
        ("easy", False, False),
        ("easy", True, True),
    ]
