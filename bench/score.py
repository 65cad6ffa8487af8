"""Score the C3SQL predictions on the 972 runnable Spider dev items.

Prints items/s for a cold run (golden results computed) and a warm run (golden
results reused), with EX, EM and row-count sanity. Run from the project root:
``.venv/bin/python bench/score.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluation.scoring import (  # noqa: E402
    SQLGLOT_VERSION,
    GoldResult,
    ItemScore,
    aggregate,
    prepare_gold,
    score_item,
)
from evaluation.spider import (  # noqa: E402
    database_path,
    hardness,
    load_tables,
    read_gold,
    read_predictions,
)
from targets.sandbox import close_all, sandbox_for  # noqa: E402

DATA = ROOT / "data"


def load_items() -> list[tuple[int, str, str, str]]:
    """(index, db_id, gold SQL, predicted SQL) for every item whose db is present."""
    gold = read_gold(DATA / "spider" / "dev_gold.sql")
    preds = read_predictions(DATA / "conformance" / "c3sql_predicted_sql.txt")
    root = DATA / "spider" / "database"
    return [
        (i, g.db_id, g.query, p)
        for i, (g, p) in enumerate(zip(gold, preds, strict=True))
        if database_path(root, g.db_id).is_file()
    ]


def run(
    items: list[tuple[int, str, str, str]], golds: dict[int, GoldResult] | None
) -> tuple[list[ItemScore], dict[int, GoldResult], float]:
    """Score all items; compute golden results when ``golds`` is None."""
    tables = load_tables(DATA / "spider" / "tables.json")
    root = DATA / "spider" / "database"
    computed: dict[int, GoldResult] = {}
    scores: list[ItemScore] = []
    started = time.perf_counter()
    for index, db_id, gold_sql, pred_sql in items:
        sandbox = sandbox_for("sqlite", database_path(root, db_id))
        schema = tables[db_id].sqlglot_schema()
        if golds is None:
            gold = prepare_gold(gold_sql, sandbox, schema=schema)
        else:
            gold = golds[index]
        computed[index] = gold
        scores.append(score_item(pred_sql, gold, sandbox, schema=schema))
    return scores, computed, time.perf_counter() - started


def main() -> None:
    """Run the cold and warm passes and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warm-runs", type=int, default=3)
    args = parser.parse_args()
    items = load_items()
    scores, golds, cold = run(items, None)
    print(f"sqlglot {SQLGLOT_VERSION}; items: {len(items)}")
    print(
        f"cold: {cold:.2f} s, {len(items) / cold:.0f} items/s (golden results computed)"
    )
    best = float("inf")
    for _ in range(args.warm_runs):
        warm_scores, _, warm = run(items, golds)
        best = min(best, warm)
    assert warm_scores == scores or all(  # noqa: S101
        a.execution_match == b.execution_match
        for a, b in zip(warm_scores, scores, strict=True)
    )
    print(
        f"warm: {best:.2f} s, {len(items) / best:.0f} items/s (golden results reused)"
    )
    segments = [
        (s, {"hardness": hardness(gold_sql), "db_id": db_id})
        for s, (_, db_id, gold_sql, _) in zip(scores, items, strict=True)
    ]
    summary = aggregate(segments)
    overall = summary["overall"]
    print(
        f"EX {overall['ex']:.3f}  EM {overall['em']:.3f}  executed "
        f"{overall['executed']:.3f}  row-count ok {overall['row_count_ok']:.3f}"
    )
    for level, figures in summary["segments"]["hardness"].items():
        print(
            f"  {level:<7} n={figures['count']:<4} EX {figures['ex']:.3f}"
            f"  EM {figures['em']:.3f}"
        )
    close_all()


if __name__ == "__main__":
    main()
