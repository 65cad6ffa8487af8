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
from django.core.management import call_command
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parents[2]
SPIDER = ROOT / "data" / "spider"
DB_DIR = SPIDER / "database"
GOLD = SPIDER / "dev_gold.sql"
C3SQL = ROOT / "data" / "conformance" / "c3sql_predicted_sql.txt"


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
# Loaded by django.setup() (admin, DRF, the model backends) or by the system
# checks (URLs); scoring needs none of them.
HEAVY = [
    "django.contrib.admin",
    "rest_framework",
    "drf_spectacular",
    "openai",
    "psycopg",
    "evaluation.models",
    "targets.models",
    "config.urls",
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
        f"Scored 3 of 4 items (mode spider, sqlglot {_sqlglot_version()}, 2 processes)."
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


def _sqlglot_version() -> str:
    import sqlglot

    return sqlglot.__version__
