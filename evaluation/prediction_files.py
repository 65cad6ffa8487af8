"""Score a Spider-format predictions file outside the loop, as the field's tools do.

Django-free. Items whose database file is missing, or whose golden query does not
run, are *not runnable*: they are listed and left out of every rate, never
silently counted as wrong (or right).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from evaluation.exact_match import Schema
from evaluation.scoring import (
    MODES,
    SQLGLOT_VERSION,
    GoldQueryError,
    ItemScore,
    Mode,
    aggregate,
    prepare_gold,
    score_item,
)
from evaluation.spider import (
    HARDNESS_LEVELS,
    database_path,
    hardness,
    load_tables,
    read_gold,
    read_predictions,
)
from targets.execution import sandbox_limits
from targets.sandbox import (
    ResultTooLarge,
    SqliteSandbox,
    close_all,
)

__all__ = [
    "CSV_FIELDS",
    "OfflineReport",
    "PredictionFileError",
    "ScoredItem",
    "format_report",
    "score_prediction_file",
    "write_csv",
]

MISSING_DATABASE = "database file missing"
# The error kind runs give the same case (evaluation.runs.summaries.GOLD_ERROR).
GOLD_FAILED = "gold_error"
GOLD_TOO_LARGE = "golden result too large"
CSV_FIELDS = (
    "index",
    "db",
    "hardness",
    "exact_match",
    "executed",
    "execution_match",
    "row_count_ok",
    "error",
)


class PredictionFileError(ValueError):
    """An input is missing or malformed, or the mode is unknown; nothing scored."""


@dataclass(frozen=True, slots=True)
class ScoredItem:
    """One gold/prediction pair: a score, or why it could not be scored."""

    index: int
    db: str
    hardness: str
    score: ItemScore | None
    not_runnable: str = ""
    # The engine's message when the golden query failed.
    error: str = ""


@dataclass
class OfflineReport:
    """Per-item results and their summary (`evaluation.scoring.aggregate` shape)."""

    mode: str
    items: list[ScoredItem]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def scored(self) -> list[ScoredItem]:
        """Items that were scored (runnable)."""
        return [item for item in self.items if item.score is not None]

    def not_runnable(self) -> Counter[tuple[str, str]]:
        """(db, reason) -> number of items left out."""
        return Counter(
            (item.db, item.not_runnable) for item in self.items if item.score is None
        )


def _require(path: Path, what: str, *, directory: bool = False) -> None:
    ok = path.is_dir() if directory else path.is_file()
    if not ok:
        raise PredictionFileError(f"{what} not found: {path}")


def score_prediction_file(
    *,
    gold_path: Path,
    pred_path: Path,
    db_dir: Path,
    mode: str = "spider",
    tables_path: Path | None = None,
) -> OfflineReport:
    """Score every line of `pred_path` against the same line of `gold_path`.

    Files are read as the official evaluator reads them (blank lines are not
    items; a prediction stops at its first tab). `tables_path` (Spider
    tables.json) gives EM the schema to qualify columns with. Raises
    PredictionFileError for a missing file, a line-count mismatch or an unknown
    mode.
    """
    if mode not in MODES:
        raise PredictionFileError(
            f"Unknown mode {mode!r}; expected one of {', '.join(MODES)}."
        )
    _require(gold_path, "Gold file")
    _require(pred_path, "Predictions file")
    _require(db_dir, "Database folder", directory=True)
    if tables_path is not None:
        _require(tables_path, "Tables file")
    try:
        gold = read_gold(gold_path)
        preds = read_predictions(pred_path)
        tables = load_tables(tables_path) if tables_path is not None else {}
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise PredictionFileError(f"Cannot read the inputs: {exc}") from None
    if len(gold) != len(preds):
        raise PredictionFileError(
            f"The gold file has {len(gold)} items but the predictions file has "
            f"{len(preds)}; they must align line by line."
        )
    checked_mode: Mode = mode
    sandboxes: dict[str, SqliteSandbox] = {}
    items: list[ScoredItem] = []
    try:
        for index, (line, pred) in enumerate(zip(gold, preds, strict=True)):
            schema = (
                tables[line.db_id].sqlglot_schema() if line.db_id in tables else None
            )
            item = _score_one(
                index, line.query, line.db_id, pred,
                db_dir=db_dir, sandboxes=sandboxes, mode=checked_mode, schema=schema,
            )  # fmt: skip
            items.append(item)
    finally:
        close_all(list(sandboxes.values()))
    report = OfflineReport(mode=checked_mode, items=items)
    report.summary = aggregate(
        (item.score, {"hardness": item.hardness})
        for item in items
        if item.score is not None
    )
    return report


def _score_one(
    index: int,
    gold_sql: str,
    db: str,
    pred_sql: str,
    *,
    db_dir: Path,
    sandboxes: dict[str, SqliteSandbox],
    mode: Mode,
    schema: Schema | None,
) -> ScoredItem:
    try:
        level = hardness(gold_sql)
    except ValueError:
        level = "unknown"
    if db not in sandboxes:
        path = database_path(db_dir, db)
        if not path.is_file():
            return ScoredItem(index, db, level, None, MISSING_DATABASE)
        limits = sandbox_limits()
        sandboxes[db] = SqliteSandbox(
            path,
            timeout_s=limits.timeout_s,
            max_rows=limits.max_rows,
            max_bytes=limits.max_bytes,
        )
    sandbox = sandboxes[db]
    try:
        gold = prepare_gold(gold_sql, sandbox, mode=mode, schema=schema)
    except GoldQueryError as exc:
        too_large = isinstance(exc.__cause__, ResultTooLarge)
        reason = GOLD_TOO_LARGE if too_large else GOLD_FAILED
        return ScoredItem(index, db, level, None, reason, str(exc))
    score = score_item(pred_sql, gold, sandbox, mode=mode, schema=schema)
    return ScoredItem(index, db, level, score)


def _levels(report: OfflineReport) -> list[str]:
    seen = {item.hardness for item in report.items}
    return [level for level in (*HARDNESS_LEVELS, "unknown") if level in seen]


def _rate(figures: Mapping[str, Any] | None, key: str) -> str:
    value = figures.get(key) if figures else None
    return "-" if value is None else f"{value:.3f}"


def format_report(report: OfflineReport) -> str:
    """A text table: counts and EX/EM/executed/row-count rates per hardness."""
    total, scored = len(report.items), len(report.scored)
    lines = [
        f"Scored {scored} of {total} items (mode {report.mode}, "
        f"sqlglot {SQLGLOT_VERSION}).",
    ]
    left_out = report.not_runnable()
    if left_out:
        lines.append(f"Not runnable, left out of every rate: {total - scored} items")
        for (db, reason), count in sorted(left_out.items()):
            lines.append(f"  {db}: {count} ({reason})")
        for item in report.items:
            if item.error:
                lines.append(f"  item {item.index + 1} ({item.db}): {item.error}")
    levels = _levels(report)
    by_level = report.summary.get("segments", {}).get("hardness", {})
    columns = [*levels, "all"]
    figures = {**by_level, "all": report.summary.get("overall")}
    runnable = Counter(item.hardness for item in report.scored)
    skipped = Counter(item.hardness for item in report.items if item.score is None)
    rows: list[tuple[str, list[str]]] = [
        ("count", [str(runnable[lv]) for lv in levels] + [str(scored)]),
        ("not runnable", [str(skipped[lv]) for lv in levels] + [str(total - scored)]),
        ("execution accuracy", [_rate(figures.get(c), "ex") for c in columns]),
        ("exact match (EM)", [_rate(figures.get(c), "em") for c in columns]),
        ("executed", [_rate(figures.get(c), "executed") for c in columns]),
        ("row count ok", [_rate(figures.get(c), "row_count_ok") for c in columns]),
    ]
    lines.append("")
    lines.append(f"{'':20}" + "".join(f"{c:>10}" for c in columns))
    for label, values in rows:
        lines.append(f"{label:20}" + "".join(f"{v:>10}" for v in values))
    return "\n".join(lines)


def _flag(value: bool) -> str:
    return "1" if value else "0"


def write_csv(report: OfflineReport, handle: TextIO) -> None:
    """Write one row per item; not-runnable items have empty verdicts."""
    writer = csv.writer(handle)
    writer.writerow(CSV_FIELDS)
    for item in report.items:
        score = item.score
        if score is None:
            verdicts = ["", "", "", ""]
            error = ": ".join(
                filter(None, ("not runnable", item.not_runnable, item.error))
            )
            writer.writerow([item.index, item.db, item.hardness, *verdicts, error])
            continue
        writer.writerow(
            [
                item.index,
                item.db,
                item.hardness,
                _flag(score.exact_match),
                _flag(score.executed),
                _flag(score.execution_match),
                _flag(score.row_count_ok),
                score.error,
            ]
        )
