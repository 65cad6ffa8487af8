"""Suite mode for prediction files (`score_predictions --mode suite`).

Scores the file with Spider rules (`evaluation.prediction_files`), then checks
every match on the neighbours of its database (`evaluation.suite`). Items that
are not runnable stay out of every rate, as in the other modes.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from evaluation.prediction_files import (
    Limits as FileLimits,
)
from evaluation.prediction_files import (
    OfflineReport,
    PredictionFileError,
    score_prediction_file,
)
from evaluation.scoring import aggregate
from evaluation.spider import read_gold, read_predictions
from evaluation.suite import (
    BASE_MODE,
    FLIPPED_KIND,
    SUITE_MODE,
    Limits,
    rescore_items,
)

__all__ = ["flipped_count", "score_suite_file"]


def score_suite_file(
    *,
    gold_path: Path,
    pred_path: Path,
    db_dir: Path,
    neighbours_dir: Path,
    tables_path: Path | None = None,
    limits: FileLimits | None = None,
    jobs: int = 1,
) -> OfflineReport:
    """Score like `score_prediction_file`, counting a match only on every neighbour.

    Neighbours are generated on first use under ``neighbours_dir/<db_id>/``.
    Raises PredictionFileError as `score_prediction_file` does, or when a
    neighbour database cannot be written.
    """
    report = score_prediction_file(
        gold_path=gold_path,
        pred_path=pred_path,
        db_dir=db_dir,
        mode=BASE_MODE,
        tables_path=tables_path,
        limits=limits,
        jobs=jobs,
    )
    gold = read_gold(gold_path)
    preds = read_predictions(pred_path)
    limits = limits or FileLimits()
    try:
        rescored = rescore_items(
            [
                (item.score, item.db, gold[item.index].query, preds[item.index])
                for item in report.items
            ],
            db_dir=db_dir,
            neighbours_dir=neighbours_dir,
            limits=Limits(limits.timeout_s, limits.max_rows, limits.max_bytes),
        )
    except OSError as exc:
        raise PredictionFileError(f"Cannot write neighbour databases: {exc}") from None
    items = [
        replace(item, score=score)
        for item, (score, _) in zip(report.items, rescored, strict=True)
    ]
    suite = OfflineReport(mode=SUITE_MODE, items=items)
    suite.summary = aggregate(
        (item.score, {"hardness": item.hardness})
        for item in items
        if item.score is not None
    )
    return suite


def flipped_count(report: OfflineReport) -> int:
    """Items that matched on their database but not on one of its neighbours."""
    return sum(
        1
        for item in report.items
        if item.score is not None and item.score.error_kind == FLIPPED_KIND
    )
