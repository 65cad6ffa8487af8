"""One Spider database on each real engine: gold against gold, every difference
explained (bench/engines.py does the same for all 19)."""

from pathlib import Path

import pytest

from bench import engine_targets
from bench.engines import EngineTally, _items, _loaded, run_database
from evaluation.engine_differences import (
    GROUP_BY,
    REASONS,
    TYPE_COERCION,
    UNEXPLAINED,
)


def report_for(engine: str) -> EngineTally:
    tally = EngineTally()
    items = _items({"concert_singer"})["concert_singer"]
    with _loaded("concert_singer", [engine]) as runners:
        run_database("concert_singer", items, runners, {engine: tally})
    return tally


def assert_explained(tally: EngineTally) -> None:
    assert tally.gold_items == 45
    assert tally.gold_equal + len(tally.gold_listed) == 45
    assert tally.gold_equal >= 30
    for listed in tally.gold_listed:
        assert listed["reason"] in REASONS and listed["reason"] != UNEXPLAINED
        assert listed["evidence"]


def test_concert_singer_on_duckdb_differs_only_for_listed_reasons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_targets, "DUCKDB_DIR", tmp_path)
    tally = report_for("duckdb")
    assert_explained(tally)
    # DuckDB knows no functional dependency: a name beside GROUP BY its id fails.
    reasons = {x["idx"]: x["reason"] for x in tally.gold_listed}
    assert reasons[22] == GROUP_BY
    assert (tmp_path / "concert_singer.duckdb").is_file()


@pytest.mark.postgres
def test_concert_singer_on_postgres_differs_only_for_listed_reasons() -> None:
    tally = report_for("postgresql")
    assert_explained(tally)
    # concert.Year is text: SQLite compares it with 2014 as text, PostgreSQL refuses.
    reasons = {x["idx"]: x["reason"] for x in tally.gold_listed}
    assert reasons[20] == TYPE_COERCION


@pytest.mark.mariadb
def test_concert_singer_on_mariadb_differs_only_for_listed_reasons() -> None:
    assert_explained(report_for("mariadb"))
