"""Test-suite execution: neighbour databases and suite verdicts (no Django DB)."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from evaluation.neighbours import NeighbourSet, ensure_neighbours
from evaluation.scoring import ItemScore, prepare_gold, score_item
from evaluation.spider import database_path, read_gold
from evaluation.suite import NeighbourSuite, SuiteVerdict, apply_verdict
from targets.sandbox import SqliteSandbox

DATA = Path(__file__).resolve().parents[2] / "data"
DB_ROOT = DATA / "spider" / "database"
LIMITS = {"timeout_s": 5.0, "max_rows": 10_000, "max_bytes": 1 << 24}


def _dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as conn:
        conn.text_factory = lambda b: b.decode(errors="ignore")
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            name: conn.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall()  # noqa: S608
            for name in names
        }


def _ddl(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
        ).fetchall()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A private copy of concert_singer (four tables, composite key, FKs)."""
    path = tmp_path / "concert_singer.sqlite"
    shutil.copy(database_path(DB_ROOT, "concert_singer"), path)
    return path


@pytest.fixture
def neighbours(source: Path, tmp_path: Path) -> NeighbourSet:
    return ensure_neighbours(source, tmp_path / "neighbours" / "concert_singer")


@pytest.fixture
def suite(neighbours: NeighbourSet) -> Iterator[NeighbourSuite]:
    opened = NeighbourSuite.of_files(neighbours, **LIMITS)  # type: ignore[arg-type]
    yield opened
    opened.close()


# --- neighbour databases ------------------------------------------------------


def test_neighbours_keep_the_schema_keys_and_foreign_keys(
    source: Path, neighbours: NeighbourSet
) -> None:
    assert [p.name for p in neighbours.paths] == [f"{n}.sqlite" for n in range(1, 6)]
    for path in neighbours.paths:
        assert _ddl(path) == _ddl(source)
        with sqlite3.connect(path) as conn:
            # Every singer_in_concert row points at an existing concert and singer,
            # every concert at an existing stadium.
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
            pairs = conn.execute(
                'SELECT count(*), count(DISTINCT concert_ID || "/" || Singer_ID) '
                "FROM singer_in_concert"
            ).fetchone()
            assert pairs[0] == pairs[1] > 0
            ids = conn.execute(
                "SELECT count(*), count(DISTINCT Singer_ID) FROM singer"
            ).fetchone()
            assert ids[0] == ids[1] > 0


def test_neighbours_differ_from_the_source_and_from_each_other(
    source: Path, neighbours: NeighbourSet
) -> None:
    dumps = [_dump(p) for p in neighbours.paths]
    assert all(d != _dump(source) for d in dumps)
    assert len({repr(d) for d in dumps}) == len(dumps)


def test_string_values_come_from_the_column_or_its_variants(
    source: Path, neighbours: NeighbourSet
) -> None:
    original = {r[2] for r in _dump(source)["singer"]}  # Country
    folded = {c.strip().lower() for c in original}
    for path in neighbours.paths:
        for row in _dump(path)["singer"]:
            assert row[2].strip().lower() in folded


def test_generation_is_deterministic(source: Path, tmp_path: Path) -> None:
    first = ensure_neighbours(source, tmp_path / "a")
    second = ensure_neighbours(source, tmp_path / "b")
    assert [_dump(p) for p in first.paths] == [_dump(p) for p in second.paths]
    other_seed = ensure_neighbours(source, tmp_path / "c", seed=1)
    assert [_dump(p) for p in other_seed.paths] != [_dump(p) for p in first.paths]


def test_neighbours_are_reused_until_the_source_changes(
    source: Path, neighbours: NeighbourSet
) -> None:
    folder = neighbours.paths[0].parent
    stamps = [p.stat().st_mtime_ns for p in neighbours.paths]
    again = ensure_neighbours(source, folder)
    assert [p.stat().st_mtime_ns for p in again.paths] == stamps
    before = _dump(neighbours.paths[0])
    with sqlite3.connect(source) as conn:
        conn.execute("UPDATE singer SET Age = Age + 50")
    changed = ensure_neighbours(source, folder)
    assert changed.source_hash != neighbours.source_hash
    assert _dump(changed.paths[0]) != before
    assert changed.source_hash in (folder / "manifest.json").read_text()


def test_a_table_with_a_self_reference_points_at_existing_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "staff.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE staff (id int PRIMARY KEY, name text, boss int "
            "REFERENCES staff(id))"
        )
        conn.executemany(
            "INSERT INTO staff VALUES (?, ?, ?)",
            [(i, f"n{i}", None if i == 1 else 1 + i // 3) for i in range(1, 30)],
        )
    made = ensure_neighbours(path, tmp_path / "n")
    for neighbour in made.paths:
        with sqlite3.connect(neighbour) as conn:
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


# --- suite verdicts -----------------------------------------------------------


def _single_db(source: Path, gold: str, pred: str) -> ItemScore:
    sandbox = SqliteSandbox(source)
    try:
        return score_item(pred, prepare_gold(gold, sandbox), sandbox)
    finally:
        sandbox.close()


COINCIDENCES = [
    # A hard-coded count equals the original row count.
    ("SELECT count(*) FROM singer", "SELECT 6"),
    # The French singers happen to be the singers with an id above 2.
    (
        "SELECT name FROM singer WHERE country = 'France'",
        "SELECT name FROM singer WHERE singer_id > 2",
    ),
    # Stadium names are unique in the original, not in the neighbours.
    (
        "SELECT T2.name, count(*) FROM concert AS T1 JOIN stadium AS T2 "
        "ON T1.stadium_id = T2.stadium_id GROUP BY T1.stadium_id",
        "SELECT stadium.name, count(*) FROM stadium JOIN concert "
        "ON stadium.stadium_id = concert.stadium_id GROUP BY stadium.name",
    ),
]


@pytest.mark.parametrize(("gold", "pred"), COINCIDENCES)
def test_a_coincidental_match_on_the_original_is_flipped(
    source: Path, suite: NeighbourSuite, gold: str, pred: str
) -> None:
    single = _single_db(source, gold, pred)
    assert single.execution_match
    verdict = suite.check(gold, pred)
    assert not verdict.matched
    assert verdict.failed_on is not None
    flipped = apply_verdict(single, verdict)
    assert not flipped.execution_match
    assert flipped.error_kind == "suite_mismatch"
    assert flipped.executed


def test_an_equivalent_prediction_stays_correct(suite: NeighbourSuite) -> None:
    verdict = suite.check(
        "SELECT name FROM singer WHERE age > 30",
        "SELECT s.name FROM singer AS s WHERE NOT s.age <= 30",
    )
    assert verdict == SuiteVerdict(True, verdict.informative, verdict.skipped)
    assert verdict.informative > 0


def test_every_concert_singer_gold_matches_itself_on_every_neighbour(
    suite: NeighbourSuite,
) -> None:
    golds = [
        g.query
        for g in read_gold(DATA / "spider" / "dev_gold.sql")
        if g.db_id == "concert_singer"
    ]
    assert len(golds) > 40
    verdicts = [suite.check(gold, gold) for gold in golds]
    assert all(v.matched for v in verdicts)
    assert sum(v.informative for v in verdicts) > len(golds)


def _neighbour(tmp_path: Path, name: str, rows: list[tuple[str, int]]) -> Path:
    path = tmp_path / f"{name}.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (name text, age int)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", rows)
    return path


def _hand_made(tmp_path: Path, *sets: list[tuple[str, int]]) -> NeighbourSuite:
    paths = tuple(_neighbour(tmp_path, f"n{i}", rows) for i, rows in enumerate(sets))
    return NeighbourSuite.of_files(NeighbourSet(paths[0], "x", paths), **LIMITS)  # type: ignore[arg-type]


def test_a_tie_at_the_limit_makes_the_neighbour_uninformative(
    tmp_path: Path,
) -> None:
    suite = _hand_made(
        tmp_path, [("a", 20), ("b", 20), ("c", 30)], [("a", 20), ("b", 25)]
    )
    gold = "SELECT name FROM t ORDER BY age LIMIT 1"
    pred = "SELECT name FROM t ORDER BY age, name DESC LIMIT 1"
    verdict = suite.check(gold, pred)
    suite.close()
    # Neighbour 1 has two youngest rows: either is right. Neighbour 2 does not.
    assert verdict == SuiteVerdict(True, informative=1, skipped=1)


def test_a_wrong_limit_query_is_flipped_where_there_is_no_tie(
    tmp_path: Path,
) -> None:
    suite = _hand_made(tmp_path, [("a", 20), ("b", 25)], [("a", 30), ("b", 25)])
    verdict = suite.check(
        "SELECT name FROM t ORDER BY age LIMIT 1",
        "SELECT name FROM t ORDER BY rowid LIMIT 1",
    )
    suite.close()
    assert (verdict.matched, verdict.informative, verdict.failed_on) == (False, 1, 2)


def test_an_empty_or_failing_gold_does_not_flip(tmp_path: Path) -> None:
    suite = _hand_made(tmp_path, [("a", 20)], [("b", 20)])
    # On both neighbours the gold finds nothing while the prediction finds a row.
    verdict = suite.check(
        "SELECT name FROM t WHERE name = 'zz'", "SELECT name FROM t WHERE age = 99"
    )
    assert verdict == SuiteVerdict(True, informative=0, skipped=2)
    failing = suite.check("SELECT nope FROM t", "SELECT name FROM t")
    suite.close()
    assert failing == SuiteVerdict(True, informative=0, skipped=2)


def test_rows_in_another_order_flip_only_without_ties(tmp_path: Path) -> None:
    suite = _hand_made(tmp_path, [("a", 20), ("b", 30)], [("a", 20), ("b", 20)])
    verdict = suite.check(
        "SELECT name FROM t ORDER BY age", "SELECT name FROM t ORDER BY age DESC"
    )
    assert (verdict.matched, verdict.failed_on, verdict.reason) == (
        False,
        1,
        "same rows in a different order",
    )
    tied = suite.check(
        "SELECT name FROM t ORDER BY age", "SELECT name FROM t ORDER BY age, name DESC"
    )
    suite.close()
    # Neighbour 1 has no tie and the same order; neighbour 2 ties on age.
    assert tied == SuiteVerdict(True, informative=1, skipped=1)


def test_a_rejected_prediction_is_wrong(suite: NeighbourSuite) -> None:
    verdict = suite.check("SELECT name FROM singer", "DELETE FROM singer")
    assert not verdict.matched
    assert verdict.reason.startswith("rejected")


def test_a_large_table_is_sampled_from_its_first_rows_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("evaluation.neighbours.MAX_SOURCE_ROWS", 10)
    path = tmp_path / "big.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, name text)")
        conn.executemany(
            "INSERT INTO t VALUES (?, ?)", [(i, f"n{i}") for i in range(1000)]
        )
    made = ensure_neighbours(path, tmp_path / "n", count=2)
    for neighbour in made.paths:
        rows = _dump(neighbour)["t"]
        assert 0 < len(rows) <= 16
        assert {r[1].strip().lower() for r in rows} <= {f"n{i}" for i in range(10)}
