"""Test-suite execution: a prediction is correct only if it matches everywhere.

Single-database EX overestimates accuracy, because a wrong query can return the
golden rows by coincidence (Zhong, Yu and Klein, 2020). In ``suite`` mode a
prediction that matches on the original database (Spider rules) is also run,
with the golden query, on each neighbour database (`evaluation.neighbours`); one
mismatch flips the verdict to wrong. PostgreSQL, MariaDB and DuckDB targets'
neighbours are built by their owner (`evaluation.engine_neighbours`) and checked
through the engine's sandbox, gated and probed in the engine's dialect.
Django-free.

A neighbour only counts when it can tell right from wrong for the item, so that
the golden query scored against itself stays 1.0. It is *uninformative*, and
skipped, when on it the golden query

- fails, or its result is truncated at the row cap;
- returns no rows: fuzzed values can make a golden filter match nothing, and an
  empty result cannot separate most wrong queries from right ones;
- has a tie at its ``LIMIT`` boundary (``ORDER BY age LIMIT 1`` with two rows of
  the same age): which tied row comes back depends on the plan, so an equivalent
  query may legitimately return the other one;
- matches the prediction as a multiset but not in order while the ordering keys
  have ties, for the same reason.

A prediction that fails or is truncated on an informative neighbour is wrong.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from evaluation.neighbours import NeighbourSet, ensure_neighbours
from evaluation.scoring import (
    MODES,
    SUITE_MODE,
    ItemScore,
    Mode,
    results_equal,
    spider_prepare,
)
from evaluation.spider import database_path
from targets.sandbox import QueryResult, Sandbox, SandboxError, SqliteSandbox
from targets.sqlgate import SQLRejected, check_sql

__all__ = [
    "BASE_MODE",
    "FLIPPED_KIND",
    "SUITE_MODE",
    "Limits",
    "NeighbourSuite",
    "SuiteVerdict",
    "apply_verdict",
    "comparison_mode",
    "rescore_items",
]

# error_kind of a prediction that matched on its database but not a neighbour.
FLIPPED_KIND = "suite_mismatch"
# Comparison rules used on every database of the suite.
BASE_MODE: Mode = "spider"


def comparison_mode(mode: str) -> Mode:
    """The result-comparison rules a run mode uses on each database.

    Suite mode compares with Spider rules; its golden results on the original
    database are those of spider mode, and are cached under that name.
    """
    if mode == SUITE_MODE:
        return BASE_MODE
    if mode not in MODES:
        raise ValueError(f"unknown scoring mode {mode!r}")
    return mode


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps for every neighbour query (the target's sandbox limits)."""

    timeout_s: float
    max_rows: int
    max_bytes: int


@dataclass(frozen=True, slots=True)
class SuiteVerdict:
    """How a prediction fared on the neighbours of its database.

    ``failed_on`` is the 1-based neighbour where it first differed (None when it
    matched on every informative one); ``informative`` counts the neighbours that
    could tell, ``skipped`` those that could not.
    """

    matched: bool
    informative: int
    skipped: int
    failed_on: int | None = None
    reason: str = ""
    # Where that neighbour lives, when the suite was given names (engine targets).
    where: str = ""


def apply_verdict(score: ItemScore, verdict: SuiteVerdict) -> ItemScore:
    """The single-database score, with EX withdrawn when the suite disagrees."""
    if verdict.matched or not score.execution_match:
        return score
    where = f" ({verdict.where})" if verdict.where else ""
    return replace(
        score,
        execution_match=False,
        error=f"neighbour {verdict.failed_on}{where}: {verdict.reason}",
        error_kind=FLIPPED_KIND,
    )


def _order_keys(select: exp.Select) -> list[exp.Expression] | None:
    aliases = {
        e.alias.lower(): e.this for e in select.expressions if isinstance(e, exp.Alias)
    }
    keys: list[exp.Expression] = []
    for ordered in select.args["order"].expressions:
        key = ordered.this
        if isinstance(key, exp.Literal) and key.is_int:
            position = int(key.name) - 1
            if not 0 <= position < len(select.expressions):
                return None
            key = select.expressions[position]
            key = key.this if isinstance(key, exp.Alias) else key
        elif isinstance(key, exp.Column) and not key.table:
            key = aliases.get(key.name.lower(), key)
        keys.append(key.copy())
    return keys


def _key_probe(gold_text: str, dialect: str) -> tuple[str, int | None] | None:
    """SQL returning the golden ORDER BY keys (one more row past any LIMIT)."""
    try:
        tree = sqlglot.parse_one(gold_text, read=dialect)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, RecursionError):
        return None
    if not isinstance(tree, exp.Select) or tree.args.get("order") is None:
        return None
    keys = _order_keys(tree)
    if keys is None:
        return None
    limit: int | None = None
    limit_node = tree.args.get("limit")
    if limit_node is not None:
        value = limit_node.expression
        if not (isinstance(value, exp.Literal) and value.is_int):
            return None
        limit = int(value.name)
    probe = tree.copy()
    probe.set("expressions", keys)
    if limit is not None:
        probe.set("limit", exp.Limit(expression=exp.Literal.number(limit + 1)))
    return probe.sql(dialect=dialect), limit


def _has_ties(
    keys: Sequence[tuple[Any, ...]], limit: int | None, *, anywhere: bool
) -> bool:
    if limit is not None and 0 < limit < len(keys) and keys[limit - 1] == keys[limit]:
        return True
    if not anywhere:
        return False
    shown = keys if limit is None else keys[:limit]
    return any(a == b for a, b in itertools.pairwise(shown))


class NeighbourSuite:
    """Sandboxes over the neighbours of one database; close it when done.

    Queries are gated and probed in ``dialect``, the target engine's sqlglot
    dialect; the sandboxes belong to the suite, which closes them. Not
    thread-safe: SQLite connections are bound to the creating thread.
    """

    def __init__(
        self,
        sandboxes: Sequence[Sandbox],
        *,
        dialect: str,
        names: Sequence[str] = (),
    ) -> None:
        """Take over one sandbox per neighbour, in neighbour order; ``names``
        (optional, same order) say where each lives in verdicts."""
        self.dialect = dialect
        self._sandboxes = list(sandboxes)
        self._names = list(names)

    @classmethod
    def of_files(
        cls,
        neighbours: NeighbourSet,
        *,
        timeout_s: float,
        max_rows: int,
        max_bytes: int,
    ) -> NeighbourSuite:
        """A suite over SQLite neighbour files, one read-only sandbox each."""
        return cls(
            [
                SqliteSandbox(
                    path, timeout_s=timeout_s, max_rows=max_rows, max_bytes=max_bytes
                )
                for path in neighbours.paths
            ],
            dialect="sqlite",
        )

    def close(self) -> None:
        """Close every sandbox."""
        for sandbox in self._sandboxes:
            sandbox.close()

    def check(self, gold_sql: str, pred_sql: str, *, gate: bool = True) -> SuiteVerdict:
        """Run gold and prediction on every neighbour (Spider rules).

        Call it for predictions that matched on the original database. Raises
        nothing for a failing query: the module docstring says how each case
        counts.
        """
        gold_text = spider_prepare(gold_sql, prediction=False)
        pred_text = spider_prepare(pred_sql, prediction=True)
        try:
            if gate:
                pred_text = check_sql(pred_text, dialect=self.dialect)
        except SQLRejected as err:
            return SuiteVerdict(False, 0, 0, 1, f"rejected: {err}")
        order_matters = "order by" in gold_text.lower()
        probe = _key_probe(gold_text, self.dialect) if order_matters else None
        informative = skipped = 0
        for number, sandbox in enumerate(self._sandboxes, start=1):
            outcome = self._compare(sandbox, gold_text, pred_text, order_matters, probe)
            if outcome is None:
                skipped += 1
            elif outcome:
                where = self._names[number - 1] if self._names else ""
                return SuiteVerdict(False, informative, skipped, number, outcome, where)
            else:
                informative += 1
        return SuiteVerdict(True, informative, skipped)

    def _compare(
        self,
        sandbox: Sandbox,
        gold_text: str,
        pred_text: str,
        order_matters: bool,
        probe: tuple[str, int | None] | None,
    ) -> str | None:
        """None when uninformative, "" on a match, else why they differ."""
        gold = _run(sandbox, gold_text)
        if isinstance(gold, str) or gold.truncated or not gold.rows:
            return None
        if order_matters and probe is None and "limit" in gold_text.lower():
            return None  # A LIMIT whose ties cannot be checked.
        limit = probe[1] if probe else None
        if order_matters and limit is not None:
            keys = self._keys(sandbox, probe)
            if keys is None or _has_ties(keys, limit, anywhere=False):
                return None
        pred = _run(sandbox, pred_text)
        if isinstance(pred, str):
            return f"prediction failed: {pred}"
        if pred.truncated:
            return "prediction result truncated at the row cap"
        mode = BASE_MODE
        if results_equal(gold.rows, pred.rows, mode=mode, order_matters=order_matters):
            return ""
        if order_matters and results_equal(
            gold.rows, pred.rows, mode=mode, order_matters=False
        ):
            keys = self._keys(sandbox, probe)
            if keys is None or _has_ties(keys, limit, anywhere=True):
                return None
            return "same rows in a different order"
        return f"{len(pred.rows)} rows differ from the golden {len(gold.rows)}"

    @staticmethod
    def _keys(
        sandbox: Sandbox, probe: tuple[str, int | None] | None
    ) -> list[tuple[Any, ...]] | None:
        if probe is None:
            return None
        result = _run(sandbox, probe[0])
        if isinstance(result, str) or result.truncated:
            return None
        return [tuple(row) for row in result.rows]


def _run(sandbox: Sandbox, sql: str) -> QueryResult | str:
    try:
        return sandbox.run(sql)
    except SandboxError as err:
        return str(err) or type(err).__name__


def rescore_items(
    items: Sequence[tuple[ItemScore | None, str, str, str]],
    *,
    db_dir: Path,
    neighbours_dir: Path,
    limits: Limits,
) -> list[tuple[ItemScore | None, SuiteVerdict | None]]:
    """Apply the suite to ``(score, db_id, gold SQL, predicted SQL)`` items.

    Only items that matched on their original database are checked; their
    neighbours are generated on first use under ``neighbours_dir/<db_id>/``.
    Returns each item's (possibly flipped) score and its verdict, if checked.
    """
    suites: dict[str, NeighbourSuite] = {}
    out: list[tuple[ItemScore | None, SuiteVerdict | None]] = []
    try:
        for score, db_id, gold_sql, pred_sql in items:
            if score is None or not score.execution_match:
                out.append((score, None))
                continue
            if db_id not in suites:
                neighbours = ensure_neighbours(
                    database_path(db_dir, db_id), neighbours_dir / db_id
                )
                suites[db_id] = NeighbourSuite.of_files(
                    neighbours,
                    timeout_s=limits.timeout_s,
                    max_rows=limits.max_rows,
                    max_bytes=limits.max_bytes,
                )
            verdict = suites[db_id].check(gold_sql, pred_sql)
            out.append((apply_verdict(score, verdict), verdict))
    finally:
        for suite in suites.values():
            suite.close()
    return out
