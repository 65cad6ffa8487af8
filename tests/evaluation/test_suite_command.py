"""`score_predictions --mode suite`: coincidental matches count as wrong."""

import csv
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django.fixtures import Settings as SettingsWrapper

DB_DIR = Path(__file__).resolve().parents[2] / "data" / "spider" / "database"
ITEMS = [
    # Matches on the original only: six singers, hard-coded.
    ("SELECT count(*) FROM singer", "SELECT 6"),
    (
        "SELECT name FROM singer WHERE age > 30",
        "SELECT name FROM singer WHERE 30 < age",
    ),
    ("SELECT name FROM stadium", "SELECT location FROM stadium"),
]


@pytest.fixture
def files(tmp_path: Path, settings: SettingsWrapper) -> tuple[Path, Path]:
    settings.DATA_DIR = tmp_path / "data"
    gold, pred = tmp_path / "gold.sql", tmp_path / "pred.sql"
    gold.write_text("".join(f"{g}\tconcert_singer\n" for g, _ in ITEMS))
    pred.write_text("".join(f"{p}\n" for _, p in ITEMS))
    return gold, pred


def _score(gold: Path, pred: Path, **options: str) -> str:
    out = io.StringIO()
    call_command(
        "score_predictions", str(gold), str(pred), db_dir=str(DB_DIR), stdout=out,
        **options,
    )  # fmt: skip
    return out.getvalue()


def test_suite_mode_counts_a_coincidental_match_as_wrong(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    gold, pred = files
    spider = _score(gold, pred)
    assert spider.splitlines()[0].startswith("Scored 3 of 3 items (mode spider")
    assert "execution accuracy" in spider and "0.667" in spider
    out_csv = tmp_path / "items.csv"
    suite = _score(gold, pred, mode="suite", csv=str(out_csv))
    lines = suite.splitlines()
    assert lines[0].startswith("Scored 3 of 3 items (mode suite")
    accuracy = next(line for line in lines if line.startswith("execution accuracy"))
    assert accuracy.split()[-1] == "0.333"
    assert (
        "Suite: 1 single-database matches failed on a neighbour database and count "
        "as wrong." in lines
    )
    with out_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["execution_match"] for r in rows] == ["0", "1", "0"]
    assert rows[0]["executed"] == "1"
    assert rows[0]["error"].startswith("neighbour ")
    neighbours = tmp_path / "data" / "neighbours" / "concert_singer"
    assert len(list(neighbours.glob("*.sqlite"))) == 5


def test_an_unknown_mode_names_the_choices(files: tuple[Path, Path]) -> None:
    gold, pred = files
    with pytest.raises(CommandError, match=r"Unknown mode 'suites'.*strict, suite"):
        _score(gold, pred, mode="suites")
