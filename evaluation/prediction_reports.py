"""The text table and per-item CSV of a scored predictions file."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Mapping
from typing import Any, TextIO

from evaluation.prediction_files import OfflineReport
from evaluation.scoring import SQLGLOT_VERSION
from evaluation.spider import HARDNESS_LEVELS

__all__ = ["CSV_FIELDS", "format_report", "write_csv"]

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


def _levels(report: OfflineReport) -> list[str]:
    seen = {item.hardness for item in report.items}
    return [level for level in (*HARDNESS_LEVELS, "unknown") if level in seen]


def _rate(figures: Mapping[str, Any] | None, key: str) -> str:
    value = figures.get(key) if figures else None
    return "-" if value is None else f"{value:.3f}"


def _processes(jobs: int) -> str:
    return "process" if jobs == 1 else "processes"


def format_report(report: OfflineReport) -> str:
    """A text table: counts and EX/EM/executed/row-count rates per hardness."""
    total, scored = len(report.items), len(report.scored)
    lines = [
        f"Scored {scored} of {total} items (mode {report.mode}, "
        f"sqlglot {SQLGLOT_VERSION}, {report.jobs} {_processes(report.jobs)}).",
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
