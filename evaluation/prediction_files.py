"""Score a Spider-format predictions file outside the loop, as the field's tools do.

Django-free, so that `manage.py score_predictions` can skip loading the apps.
Items whose database file is missing, or whose golden query does not run, are
*not runnable*: they are listed and left out of every rate, never silently
counted as wrong (or right). Items are scored in chunks of one database each,
across ``jobs`` processes; each process opens a database and prepares its schema
once, however many chunks of it it scores.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from evaluation.exact_match import PreparedSchema, prepare_schema
from evaluation.scoring import (
    MODES,
    GoldQueryError,
    GoldResult,
    ItemScore,
    Mode,
    aggregate,
    only_trailing_semicolons,
    prepare_gold,
    score_item,
)
from evaluation.spider import (
    TableSchema,
    database_path,
    hardness,
    hardness_of,
    load_tables,
    read_gold,
    read_predictions,
)
from targets.sandbox import (
    DEFAULT_MAX_RESULT_BYTES,
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    ResultTooLarge,
    SqliteSandbox,
    close_all,
)

__all__ = [
    "Limits",
    "OfflineReport",
    "PredictionFileError",
    "ScoredItem",
    "default_jobs",
    "score_prediction_file",
]

MISSING_DATABASE = "database file missing"
# The error kind runs give the same case (evaluation.runs.summaries.GOLD_ERROR).
GOLD_FAILED = "gold_error"
GOLD_TOO_LARGE = "golden result too large"
# Chunks per process: enough for the last ones to even out uneven databases.
_CHUNKS_PER_JOB = 8
_MIN_CHUNK = 8


class PredictionFileError(ValueError):
    """An input is missing or malformed, or an option is invalid; nothing scored."""


@dataclass(frozen=True, slots=True)
class Limits:
    """The deadline and caps every query runs under (settings ``SANDBOX_*``)."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    max_rows: int = DEFAULT_MAX_ROWS
    max_bytes: int = DEFAULT_MAX_RESULT_BYTES


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
    jobs: int = 1

    @property
    def scored(self) -> list[ScoredItem]:
        """Items that were scored (runnable)."""
        return [item for item in self.items if item.score is not None]

    def not_runnable(self) -> Counter[tuple[str, str]]:
        """(db, reason) -> number of items left out."""
        return Counter(
            (item.db, item.not_runnable) for item in self.items if item.score is None
        )


def default_jobs() -> int:
    """The cores this process may run on: the default number of processes."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _require(path: Path, what: str, *, directory: bool = False) -> None:
    ok = path.is_dir() if directory else path.is_file()
    if not ok:
        raise PredictionFileError(f"{what} not found: {path}")


def _check_options(mode: str, jobs: int) -> Mode:
    if mode not in MODES:
        raise PredictionFileError(
            f"Unknown mode {mode!r}; expected one of {', '.join(MODES)}."
        )
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise PredictionFileError(
            f"--jobs must be a whole number of processes, at least 1 (got {jobs!r})."
        )
    return mode


def score_prediction_file(
    *,
    gold_path: Path,
    pred_path: Path,
    db_dir: Path,
    mode: str = "spider",
    tables_path: Path | None = None,
    jobs: int = 1,
    limits: Limits | None = None,
) -> OfflineReport:
    """Score every line of `pred_path` against the same line of `gold_path`.

    Files are read as the official evaluator reads them (blank lines are not
    items; a prediction stops at its first tab). `tables_path` (Spider
    tables.json) gives EM the schema to qualify columns with. `jobs` processes
    score the items; the verdicts do not depend on it. Raises
    PredictionFileError for a missing file, a line-count mismatch, an unknown
    mode or fewer than one job.
    """
    checked_mode = _check_options(mode, jobs)
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
    setup = _Setup(db_dir, checked_mode, tables, limits or Limits())
    by_db: dict[str, list[_Pair]] = {}
    for index, (line, pred) in enumerate(zip(gold, preds, strict=True)):
        by_db.setdefault(line.db_id, []).append((index, line.query, pred))
    present = {db for db in by_db if database_path(db_dir, db).is_file()}
    chunks = _chunks({db: by_db[db] for db in present}, jobs)
    items = _run_chunks(setup, chunks, jobs)
    for db in sorted(set(by_db) - present):
        items.extend(
            ScoredItem(index, db, _hardness(gold_sql), None, MISSING_DATABASE)
            for index, gold_sql, _ in by_db[db]
        )
    items.sort(key=lambda item: item.index)
    report = OfflineReport(mode=checked_mode, items=items, jobs=jobs)
    report.summary = aggregate(
        (item.score, {"hardness": item.hardness})
        for item in items
        if item.score is not None
    )
    return report


# --- scoring in chunks, in one process or several --------------------------------

_Pair = tuple[int, str, str]  # index, golden SQL, predicted SQL
_Chunk = tuple[str, list[_Pair]]  # one database's pairs


@dataclass(frozen=True, slots=True)
class _Setup:
    db_dir: Path
    mode: Mode
    tables: Mapping[str, TableSchema]
    limits: Limits


def _chunks(by_db: Mapping[str, list[_Pair]], jobs: int) -> list[_Chunk]:
    """Split each database's pairs; largest chunks first, so the last even out."""
    if jobs == 1:
        return sorted(by_db.items())
    total = sum(len(pairs) for pairs in by_db.values())
    size = max(_MIN_CHUNK, -(-total // (jobs * _CHUNKS_PER_JOB)))
    chunks = [
        (db, pairs[start : start + size])
        for db, pairs in sorted(by_db.items())
        for start in range(0, len(pairs), size)
    ]
    return sorted(chunks, key=lambda chunk: -len(chunk[1]))


def _pool_context() -> BaseContext:
    # fork starts workers at no cost, with everything imported, but is only safe
    # in a process without threads (a sandbox's watchdog may hold a lock).
    if sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _run_chunks(setup: _Setup, chunks: list[_Chunk], jobs: int) -> list[ScoredItem]:
    items: list[ScoredItem] = []
    if jobs == 1 or len(chunks) <= 1:
        scorer = _Scorer(setup)
        try:
            for chunk in chunks:
                items.extend(scorer.score(chunk))
        finally:
            scorer.close()
        return items
    processes = min(jobs, len(chunks))
    context = _pool_context()
    with context.Pool(processes, _start_worker, (setup,)) as pool:
        for scored in pool.imap_unordered(_score_in_worker, chunks):
            items.extend(scored)
    return items


class _Scorer:
    """Scores chunks in one process, with one sandbox and schema per database."""

    def __init__(self, setup: _Setup) -> None:
        self.setup = setup
        self.sandboxes: dict[str, SqliteSandbox] = {}
        self.schemas: dict[str, PreparedSchema | None] = {}
        # Spider asks most golden queries twice, on consecutive lines (two
        # phrasings of one question): result, canonical form and hardness cannot
        # differ between asks. Only the last is kept: a result may be megabytes.
        self.last_gold: tuple[str, str, _Gold] | None = None

    def _open(self, db: str) -> tuple[SqliteSandbox, PreparedSchema | None]:
        if db not in self.sandboxes:
            limits = self.setup.limits
            self.sandboxes[db] = SqliteSandbox(
                database_path(self.setup.db_dir, db),
                timeout_s=limits.timeout_s,
                max_rows=limits.max_rows,
                max_bytes=limits.max_bytes,
            )
            table = self.setup.tables.get(db)
            self.schemas[db] = (
                prepare_schema(table.sqlglot_schema()) if table is not None else None
            )
        return self.sandboxes[db], self.schemas[db]

    def score(self, chunk: _Chunk) -> list[ScoredItem]:
        """Score one database's pairs; a golden query asked twice in a row runs once."""
        db, pairs = chunk
        sandbox, schema = self._open(db)
        items = []
        for index, gold_sql, pred_sql in pairs:
            if self.last_gold is not None and self.last_gold[:2] == (db, gold_sql):
                gold = self.last_gold[2]
            else:
                gold = _prepare(gold_sql, sandbox, self.setup.mode, schema)
                self.last_gold = (db, gold_sql, gold)
            if gold.result is None:
                items.append(
                    ScoredItem(index, db, gold.level, None, gold.reason, gold.error)
                )
                continue
            score = score_item(
                pred_sql, gold.result, sandbox, mode=self.setup.mode, schema=schema
            )
            items.append(ScoredItem(index, db, gold.level, score))
        return items

    def close(self) -> None:
        """Close every sandbox this scorer opened."""
        close_all(list(self.sandboxes.values()))
        self.sandboxes.clear()


_worker_scorer: _Scorer | None = None


def _start_worker(setup: _Setup) -> None:
    global _worker_scorer
    _worker_scorer = _Scorer(setup)


def _score_in_worker(chunk: _Chunk) -> list[ScoredItem]:
    if _worker_scorer is None:
        raise RuntimeError("worker process was not started with _start_worker")
    return _worker_scorer.score(chunk)


def _hardness(gold_sql: str) -> str:
    try:
        return hardness(gold_sql)
    except ValueError:
        return "unknown"


def _parse_alone(sql: str) -> exp.Expr | None:
    """The one statement of ``sql`` (SQLite), parsed once for hardness and EM."""
    if not only_trailing_semicolons(sql):
        return None
    try:
        statements = [s for s in sqlglot.parse(sql, read="sqlite") if s is not None]
    except (SqlglotError, RecursionError):
        return None
    return statements[0] if len(statements) == 1 else None


@dataclass(frozen=True, slots=True)
class _Gold:
    """A golden query's hardness and result, or why it did not run."""

    level: str
    result: GoldResult | None
    reason: str = ""
    error: str = ""


def _prepare(
    gold_sql: str, sandbox: SqliteSandbox, mode: Mode, schema: PreparedSchema | None
) -> _Gold:
    tree = _parse_alone(gold_sql)
    if tree is None:
        level = _hardness(gold_sql)
    else:
        try:
            level = hardness_of(tree)
        except ValueError:
            level = "unknown"
    try:
        gold = prepare_gold(gold_sql, sandbox, mode=mode, schema=schema, tree=tree)
    except GoldQueryError as exc:
        too_large = isinstance(exc.__cause__, ResultTooLarge)
        return _Gold(
            level, None, GOLD_TOO_LARGE if too_large else GOLD_FAILED, str(exc)
        )
    return _Gold(level, gold)
