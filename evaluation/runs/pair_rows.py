"""First rows of one item's results, for the compare page: gold and both runs.

Results keep verdicts, not rows. The golden rows come from the snapshot's gold
cache; both predictions are run again, through `targets.execution.run_on_target`
(the SQL gate and the engine sandbox with its deadline, row and byte caps), only
for the item a reviewer opens. A failure is shown with the engine's message.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from evaluation.models import EvaluationResult, EvaluationRun, GoldResultCache
from evaluation.runs.gold_cache import decode_rows
from evaluation.scoring import SQLGLOT_VERSION
from evaluation.suite import comparison_mode
from targets.execution import run_on_target
from targets.sandbox import SandboxError
from targets.schema import SchemaCaptureError
from targets.sqlgate import SQLRejected

__all__ = [
    "PREVIEW_ROWS",
    "RowPreview",
    "gold_preview",
    "prediction_preview",
    "sql_diff",
]

PREVIEW_ROWS = 5


@dataclass(frozen=True, slots=True)
class RowPreview:
    """The first rows of a result, its row count, or why there is none."""

    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    row_count: int = 0
    truncated: bool = False
    error: str = ""

    @property
    def count_text(self) -> str:
        if self.error:
            return "no result"
        plural = "" if self.row_count == 1 else "s"
        more = "more than " if self.truncated else ""
        return f"{more}{self.row_count} row{plural}"


def _preview(columns: Any, rows: list[tuple[Any, ...]], truncated: bool) -> RowPreview:
    return RowPreview(
        columns=tuple(columns),
        rows=tuple(tuple(r) for r in rows[:PREVIEW_ROWS]),
        row_count=len(rows),
        truncated=truncated,
    )


def _run(result: EvaluationResult, sql: str) -> RowPreview:
    target = result.golden_example.target_database
    if not sql.strip():
        return RowPreview(error="No SQL to run: the run produced no prediction.")
    try:
        found = run_on_target(target, sql)
    except SQLRejected as exc:
        return RowPreview(error=f"Refused by the SQL gate: {exc.reason}")
    except (SandboxError, SchemaCaptureError) as exc:
        return RowPreview(error=str(exc) or type(exc).__name__)
    return _preview(found.columns, found.rows, found.truncated)


def prediction_preview(result: EvaluationResult) -> RowPreview:
    """Run one result's predicted SQL on its item's target, under the sandbox.
    Reads only; never raises for a failing query (the message is kept)."""
    return _run(result, result.predicted_sql)


def gold_preview(result: EvaluationResult, *, run: EvaluationRun) -> RowPreview:
    """The golden rows the runs were scored against (the snapshot's gold cache),
    or the golden SQL run through the sandbox when no cached result exists."""
    cached = GoldResultCache.objects.filter(
        snapshot_id=run.snapshot_id,
        golden_example_id=result.golden_example_id,
        mode=comparison_mode(run.mode),
        sqlglot_version=SQLGLOT_VERSION,
    ).first()
    if cached is None:
        return _run(result, result.golden_example.sql)
    if cached.error:
        return RowPreview(error=cached.error)
    return _preview(cached.columns, decode_rows(cached.rows_json), cached.truncated)


_TOKEN = re.compile(r"\s+|[(),;]|[^\s(),;]+")


def sql_diff(a: str, b: str) -> list[tuple[str, str]]:
    """Token-level diff of two SQL texts as (kind, text) pieces in reading order,
    kind one of "same", "removed" (only in a), "added" (only in b)."""
    left, right = _TOKEN.findall(a), _TOKEN.findall(b)
    pieces: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            pieces.append(("same", "".join(left[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(("removed", "".join(left[i1:i2])))
        if j2 > j1:
            pieces.append(("added", "".join(right[j1:j2])))
    return pieces
