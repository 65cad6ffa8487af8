"""Test-suite execution on the C3SQL predictions: how many verdicts it flips.

Scores the runnable Spider dev items on the original databases (Spider rules),
then on 5 neighbour databases each, and prints EX single-db vs suite, the number
of "correct" verdicts flipped with a few examples, and the golden queries scored
against themselves (must stay 1.000). Neighbours go to a temporary folder unless
``--neighbours`` names one. ``--engine duckdb`` also scores every item on DuckDB
through its sandbox and neighbours built as `build_neighbours` builds them
(bench/suite_engine.py) and prints its flips beside SQLite's. Run from the
project root: ``.venv/bin/python bench/suite.py [--engine duckdb]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluation.scoring import (  # noqa: E402
    GoldQueryError,
    ItemScore,
    prepare_gold,
    score_item,
)
from evaluation.spider import (  # noqa: E402
    database_path,
    load_tables,
    read_gold,
    read_predictions,
)
from evaluation.suite import Limits, SuiteVerdict, rescore_items  # noqa: E402
from targets.sandbox import close_all, sandbox_for  # noqa: E402

DATA = ROOT / "data"
DB_DIR = DATA / "spider" / "database"
LIMITS = Limits(timeout_s=10.0, max_rows=100_000, max_bytes=64 * 1024 * 1024)

Item = tuple[ItemScore | None, str, str, str]


def single_db(use_gold_as_prediction: bool) -> list[Item]:
    """(score, db_id, gold, prediction) for every item whose database exists."""
    gold = read_gold(DATA / "spider" / "dev_gold.sql")
    preds = read_predictions(DATA / "conformance" / "c3sql_predicted_sql.txt")
    tables = load_tables(DATA / "spider" / "tables.json")
    items: list[Item] = []
    for line, pred in zip(gold, preds, strict=True):
        path = database_path(DB_DIR, line.db_id)
        if not path.is_file():
            continue
        sandbox = sandbox_for("sqlite", path)
        schema = tables[line.db_id].sqlglot_schema()
        prediction = line.query if use_gold_as_prediction else pred
        try:
            prepared = prepare_gold(line.query, sandbox, schema=schema)
        except GoldQueryError:
            items.append((None, line.db_id, line.query, prediction))
            continue
        score = score_item(prediction, prepared, sandbox, schema=schema)
        items.append((score, line.db_id, line.query, prediction))
    close_all()
    return items


def ex(scores: list[ItemScore | None]) -> float:
    """Share of scored items whose EX verdict is correct."""
    scored = [s for s in scores if s is not None]
    return sum(s.execution_match for s in scored) / len(scored)


def main() -> None:
    """Score, rescore with the suite, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--neighbours", type=Path, help="Keep neighbours here.")
    parser.add_argument("--examples", type=int, default=5)
    parser.add_argument("--engine", choices=["duckdb"], help="Also on this engine.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.neighbours or Path(tmp)
        started = time.perf_counter()
        items = single_db(use_gold_as_prediction=False)
        suite = rescore_items(
            items, db_dir=DB_DIR, neighbours_dir=folder, limits=LIMITS
        )
        elapsed = time.perf_counter() - started
        golds = single_db(use_gold_as_prediction=True)
        gold_suite = rescore_items(
            golds, db_dir=DB_DIR, neighbours_dir=folder, limits=LIMITS
        )
    scored = sum(score is not None for score, *_ in items)
    print(f"C3SQL on Spider dev: {scored} runnable items, 5 neighbours per database")
    print(f"time (neighbours generated, both passes): {elapsed:.1f} s")
    before = ex([score for score, *_ in items])
    after = ex([score for score, _ in suite])
    print(f"EX single-db {before:.3f}  suite {after:.3f}")
    verdicts: list[SuiteVerdict] = [v for _, v in suite if v is not None]
    flipped = [
        (item, verdict)
        for item, (_, verdict) in zip(items, suite, strict=True)
        if verdict is not None and not verdict.matched
    ]
    never = sum(v.informative == 0 for v in verdicts)
    print(
        f"flipped: {len(flipped)} of {len(verdicts)} single-db correct verdicts; "
        f"{never} had no informative neighbour (verdict kept)"
    )
    for (_, db_id, gold_sql, pred_sql), verdict in flipped[: args.examples]:
        print(f"  [{db_id}] neighbour {verdict.failed_on}: {verdict.reason}")
        print(f"    gold: {gold_sql}")
        print(f"    pred: {pred_sql}")
    print(
        f"gold vs gold: single-db {ex([s for s, *_ in golds]):.3f}  "
        f"suite {ex([s for s, _ in gold_suite]):.3f}"
    )
    if args.engine == "duckdb":
        lite = {(db, gold, pred) for (_, db, gold, pred), _ in flipped}
        engine_side(lite, args.examples)


def engine_side(lite_flips: set[tuple[str, str, str]], examples: int) -> None:
    """Score on DuckDB and print its flips beside SQLite's."""
    from bench.suite_engine import duckdb_suite

    started = time.perf_counter()
    tally = duckdb_suite(LIMITS)
    elapsed = time.perf_counter() - started
    duck = {(db, gold, pred) for _, db, gold, pred, _ in tally.flipped}
    print(f"DuckDB: {tally.runnable} runnable items after transpiling, 5 neighbours")
    print(f"time (load, neighbours, both passes): {elapsed:.1f} s")
    print(
        f"EX single-db {tally.correct / tally.runnable:.3f}  suite "
        f"{(tally.correct - len(tally.flipped)) / tally.runnable:.3f}"
    )
    print(
        f"flipped: {len(tally.flipped)} of {tally.checked} single-db correct "
        f"verdicts; {tally.uninformed} had no informative neighbour (verdict kept)"
    )
    print(
        f"flipped on both engines {len(duck & lite_flips)}, DuckDB only "
        f"{len(duck - lite_flips)}, SQLite only {len(lite_flips - duck)}"
    )
    for index, db, gold_sql, pred_sql, verdict in tally.flipped[:examples]:
        print(f"  [{db} #{index}] neighbour {verdict.failed_on}: {verdict.reason}")
        print(f"    gold: {gold_sql}")
        print(f"    pred: {pred_sql}")
    print(f"gold vs gold on DuckDB: suite {tally.gold_kept}/{tally.gold_checked}")


if __name__ == "__main__":
    main()
