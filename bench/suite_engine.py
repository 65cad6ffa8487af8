"""Test-suite execution of the C3SQL predictions on DuckDB (bench/suite.py --engine).

Each Spider dev database is loaded into a DuckDB file with the `load_target`
writers, read back and given 5 neighbours exactly as `build_neighbours` does
(`targets.snapshot`, `evaluation.neighbours`, `targets.neighbour_copies`), and
every item is scored through the DuckDB sandbox: gold and prediction are
transpiled from SQLite (as `import_goldens --from-dialect sqlite` does), matched
on the database (Spider rules), then checked on the neighbours by the same
`NeighbourSuite` runs use. Files go to a temporary folder.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.dialects import TranspileError, transpile_sql
from evaluation.neighbours import ensure_neighbours
from evaluation.scoring import results_equal, spider_prepare
from evaluation.spider import database_path, read_gold, read_predictions
from evaluation.suite import Limits, NeighbourSuite, SuiteVerdict
from targets.load_plan import plan_load
from targets.load_writers import write_duckdb
from targets.neighbour_copies import load_neighbour_copies, neighbour_sandbox
from targets.sandbox import DuckDBSandbox, SandboxError
from targets.snapshot import snapshot_to_sqlite
from targets.sqlgate import SQLRejected, check_sql

ROOT = Path(__file__).resolve().parent.parent
SPIDER = ROOT / "data" / "spider"
PREDICTIONS = ROOT / "data" / "conformance" / "c3sql_predicted_sql.txt"


@dataclass
class EngineSuite:
    """Single-database and suite verdicts on one engine."""

    runnable: int = 0
    correct: int = 0
    flipped: list[tuple[int, str, str, str, SuiteVerdict]] = field(default_factory=list)
    checked: int = 0
    uninformed: int = 0
    gold_kept: int = 0
    gold_checked: int = 0

    @property
    def flipped_ids(self) -> set[int]:
        """Dev indexes of the flipped items."""
        return {item[0] for item in self.flipped}


def _rows(sandbox: DuckDBSandbox, sql: str) -> list[tuple[Any, ...]] | None:
    try:
        result = sandbox.run(check_sql(sql, dialect="duckdb"))
    except (SandboxError, SQLRejected):
        return None
    return None if result.truncated else [tuple(r) for r in result.rows]


def _neighbours(
    db: str, folder: Path, limits: Limits
) -> tuple[Path, dict[str, list[str]], NeighbourSuite]:
    source = database_path(SPIDER / "database", db)
    path = folder / f"{db}.duckdb"
    schema = write_duckdb(plan_load(source), path=path, replace=True)
    snapshot = folder / f"{db}.snapshot.sqlite"
    snapshot_to_sqlite(engine="duckdb", location=path, dest=snapshot)
    made = ensure_neighbours(snapshot, folder / db / "sqlite")
    locations = load_neighbour_copies(
        engine="duckdb",
        sources=made.paths,
        owner_dsn="",
        reader_dsn="",
        folder=folder / db,
    )
    sandboxes = [
        neighbour_sandbox(
            engine="duckdb",
            reader_dsn="",
            location=loc,
            timeout_s=limits.timeout_s,
            max_rows=limits.max_rows,
            max_bytes=limits.max_bytes,
        )
        for loc in locations
    ]
    return path, schema, NeighbourSuite(sandboxes, dialect="duckdb")


def _score_db(
    db: str,
    items: list[tuple[int, str, str]],
    folder: Path,
    limits: Limits,
    tally: EngineSuite,
) -> None:
    path, schema, suite = _neighbours(db, folder, limits)
    sandbox = DuckDBSandbox(
        path,
        timeout_s=limits.timeout_s,
        max_rows=limits.max_rows,
        max_bytes=limits.max_bytes,
    )
    columns = {c for cols in schema.values() for c in cols}
    try:
        for index, gold_sql, pred_sql in items:
            try:
                gold, pred = (
                    transpile_sql(
                        spider_prepare(text, prediction=is_pred),
                        read="sqlite",
                        write="duckdb",
                        columns=columns,
                        tables=schema,
                    )
                    for text, is_pred in ((gold_sql, False), (pred_sql, True))
                )
            except TranspileError:
                continue
            gold_rows = _rows(sandbox, gold)
            if gold_rows is None:
                continue
            tally.runnable += 1
            kept = suite.check(gold, gold)
            tally.gold_checked += 1
            tally.gold_kept += kept.matched
            pred_rows = _rows(sandbox, pred)
            order = "order by" in gold.lower()
            if pred_rows is None or not results_equal(
                gold_rows, pred_rows, mode="spider", order_matters=order
            ):
                continue
            tally.correct += 1
            tally.checked += 1
            verdict = suite.check(gold, pred)
            tally.uninformed += verdict.informative == 0
            if not verdict.matched:
                tally.flipped.append((index, db, gold_sql, pred_sql, verdict))
    finally:
        sandbox.close()
        suite.close()


def duckdb_suite(limits: Limits) -> EngineSuite:
    """Score every runnable C3SQL item on DuckDB, single-db then suite."""
    golds = read_gold(SPIDER / "dev_gold.sql")
    preds = read_predictions(PREDICTIONS)
    by_db: dict[str, list[tuple[int, str, str]]] = {}
    for index, (gold, pred) in enumerate(zip(golds, preds, strict=True)):
        if database_path(SPIDER / "database", gold.db_id).is_file():
            by_db.setdefault(gold.db_id, []).append((index, gold.query, pred))
    tally = EngineSuite()
    with tempfile.TemporaryDirectory() as tmp:
        for db, items in sorted(by_db.items()):
            _score_db(db, items, Path(tmp), limits, tally)
    return tally
