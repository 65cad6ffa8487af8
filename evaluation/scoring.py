"""Score a predicted query against a golden query: EX, EM and row-count sanity.

EX follows the Spider test-suite evaluator (taoyds/test-suite-sql-eval,
``exec_eval.py``) by default, so that figures can be put beside published ones;
``bird`` and ``strict`` are offered as named alternatives. EM is normalized SQL
equality with sqlglot, reported beside EX; sqlglot is not an equivalence prover,
so its version is recorded with every score.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlglot
from sqlglot import exp

from evaluation.exact_match import (
    EM_VERSION,
    PreparedSchema,
    Schema,
    normalize_sql,
)
from targets.sandbox import (
    QueryResult,
    Sandbox,
    SandboxError,
)
from targets.sqlgate import (
    SQLRejected,
    checked_statement,
)

__all__ = [
    "MODES",
    "SQLGLOT_VERSION",
    "GoldQueryError",
    "GoldResult",
    "ItemScore",
    "Mode",
    "aggregate",
    "only_trailing_semicolons",
    "prepare_gold",
    "remove_distinct",
    "results_equal",
    "score_item",
    "spider_prepare",
]

Mode = Literal["spider", "bird", "strict"]
MODES: tuple[Mode, ...] = ("spider", "bird", "strict")
# Spider rules on each database and its neighbours (evaluation.suite); named here
# so that choosing a mode does not import the suite.
SUITE_MODE = "suite"
Row = tuple[Any, ...]
# The EM normalizer version rides along: stored normalized SQL is keyed by it.
SQLGLOT_VERSION: str = f"{sqlglot.__version__}+em{EM_VERSION}"

# Quoted strings, quoted identifiers and comments are single tokens, as in sqlparse:
# only a bare word DISTINCT is a keyword.
_TOKEN = re.compile(
    r"'(?:[^']|'')*'?|\"(?:[^\"]|\"\")*\"?|`[^`]*`?|\[[^\]]*\]?"
    r"|--[^\n]*|/\*.*?(?:\*/|$)|\w+|\s+|.",
    re.DOTALL,
)
_CUR_YEAR = re.compile(r"YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*", re.IGNORECASE)


def remove_distinct(sql: str) -> str:
    """Drop every bare ``DISTINCT`` keyword token, as the official tool does."""
    return "".join(t for t in _TOKEN.findall(sql) if t.lower() != "distinct")


def spider_prepare(sql: str, *, prediction: bool) -> str:
    """Rewrite SQL as the test-suite evaluator does before executing it.

    Order matters and mirrors the reference: the ``value`` placeholder (prediction
    only, every occurrence, as ``evaluation.py`` does with ``replace("value", "1")``),
    the spaced-operator fix, DISTINCT removal, then the CURDATE year.
    """
    if prediction:
        sql = sql.replace("value", "1")
    sql = sql.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=")
    sql = remove_distinct(sql)
    return _CUR_YEAR.sub("2020", sql)


@dataclass(frozen=True, slots=True)
class GoldResult:
    """Golden query executed once per snapshot and reused for every prediction."""

    sql: str
    rows: Sequence[Row]
    columns: tuple[str, ...]
    normalized_sql: str | None
    has_order_by: bool
    truncated: bool
    mode: Mode

    @property
    def row_count(self) -> int:
        """Number of golden rows (capped when truncated)."""
        return len(self.rows)


@dataclass(frozen=True, slots=True)
class ItemScore:
    """Per-item verdicts; ``error`` explains why a prediction did not execute."""

    mode: Mode
    exact_match: bool
    executed: bool
    execution_match: bool
    row_count_ok: bool
    error: str
    error_kind: str
    pred_row_count: int | None
    gold_row_count: int
    pred_truncated: bool
    elapsed_ms: float
    sqlglot_version: str = SQLGLOT_VERSION


class GoldQueryError(RuntimeError):
    """The golden query did not execute: the item cannot be scored."""


def only_trailing_semicolons(sql: str) -> bool:
    """Whether no ``;`` could split ``sql``: parsers then see one statement alike.

    The gate also drops bare Semicolon statements that EM's parse keeps, so a tree
    is shared between them only when no semicolon precedes the end.
    """
    return ";" not in sql.strip().rstrip(";")


def _executed_text(sql: str, mode: Mode, *, prediction: bool) -> str:
    return spider_prepare(sql, prediction=prediction) if mode == "spider" else sql


def prepare_gold(
    gold_sql: str,
    sandbox: Sandbox,
    *,
    mode: Mode = "spider",
    dialect: str = "sqlite",
    schema: Schema | PreparedSchema | None = None,
    timeout_s: float | None = None,
    tree: exp.Expr | None = None,
) -> GoldResult:
    """Execute the golden query once; raise GoldQueryError if it cannot run.

    The golden query goes through the sandbox but not the gate: it is curated
    data, and the sandbox alone already refuses anything that writes. ``tree``
    is ``gold_sql`` already parsed alone in ``dialect``: EM consumes it instead
    of parsing the query again.
    """
    _check_mode(mode)
    text = _executed_text(gold_sql, mode, prediction=False)
    try:
        result = sandbox.run(text, timeout_s=timeout_s)
    except SandboxError as err:
        raise GoldQueryError(f"golden query failed: {err}") from err
    return GoldResult(
        sql=gold_sql,
        rows=result.rows,
        columns=result.columns,
        normalized_sql=normalize_sql(
            gold_sql, dialect=dialect, schema=schema, tree=tree
        ),
        has_order_by="order by" in text.lower(),
        truncated=result.truncated,
        mode=mode,
    )


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown scoring mode {mode!r}; expected one of {MODES}")


def _multiset_eq(left: Sequence[Hashable], right: Sequence[Hashable]) -> bool:
    return len(left) == len(right) and Counter(left) == Counter(right)


def _unorder_row(row: Row) -> Row:
    return tuple(sorted(row, key=lambda x: str(x) + str(type(x))))


def _spider_eq(gold: Sequence[Row], pred: Sequence[Row], order_matters: bool) -> bool:
    """Denotation equality of the test-suite evaluator (``result_eq``).

    The reference samples 20 predicted rows to prune column permutations when
    there are more than 3 columns. Pruning only removes mappings that no row
    could satisfy, so pruning with every row (done here, deterministically) gives
    the same verdict without the randomness.
    """
    if not gold and not pred:
        return True
    if len(gold) != len(pred):
        return False
    width = len(gold[0])
    if len(pred[0]) != width:
        return False
    unordered_gold = [_unorder_row(r) for r in gold]
    unordered_pred = [_unorder_row(r) for r in pred]
    if order_matters:
        if unordered_gold != unordered_pred:
            return False
    elif set(unordered_gold) != set(unordered_pred):
        return False
    if width == 1:
        return gold == pred if order_matters else _multiset_eq(gold, pred)
    gold_columns = [{r[i] for r in gold} for i in range(width)]
    pred_columns = [{r[j] for r in pred} for j in range(width)]
    candidates = [
        [j for j in range(width) if pred_columns[j] <= gold_columns[i]]
        for i in range(width)
    ]
    for perm in itertools.product(*candidates):
        if len(set(perm)) != width:
            continue
        permuted = [tuple(r[j] for j in perm) for r in pred]
        if order_matters:
            if list(gold) == permuted:
                return True
        elif set(gold) == set(permuted) and _multiset_eq(gold, permuted):
            return True
    return False


def results_equal(
    gold: Sequence[Row], pred: Sequence[Row], *, mode: Mode, order_matters: bool
) -> bool:
    """Compare two results under ``mode`` (``order_matters`` is used by spider)."""
    _check_mode(mode)
    if mode == "spider":
        return _spider_eq(gold, pred, order_matters)
    if mode == "bird":
        return set(pred) == set(gold)
    return list(pred) == list(gold)


def score_item(
    pred_sql: str,
    gold: str | GoldResult,
    sandbox: Sandbox,
    *,
    mode: Mode = "spider",
    dialect: str = "sqlite",
    schema: Schema | PreparedSchema | None = None,
    timeout_s: float | None = None,
    gate: bool = True,
) -> ItemScore:
    """Score one prediction against a golden query (text or precomputed result).

    A prediction that the gate rejects, or that fails in the sandbox, scores 0 for
    EX. EM is computed on the raw prediction text, independently of execution.
    """
    _check_mode(mode)
    if isinstance(gold, str):
        gold = prepare_gold(
            gold,
            sandbox,
            mode=mode,
            dialect=dialect,
            schema=schema,
            timeout_s=timeout_s,
        )
    elif gold.mode != mode:
        raise ValueError(f"golden result prepared for {gold.mode!r}, not {mode!r}")
    result: QueryResult | None = None
    error = error_kind = ""
    prepared = text = _executed_text(pred_sql, mode, prediction=True)
    checked: exp.Expr | None = None
    try:
        if gate:
            text, checked = checked_statement(text, dialect=dialect)
        result = sandbox.run(text, timeout_s=timeout_s)
    except (SQLRejected, SandboxError) as err:
        error, error_kind = str(err), type(err).__name__
    # When preparing changed nothing, the gate parsed exactly what EM parses: EM
    # consumes that tree.
    shared = prepared == pred_sql and only_trailing_semicolons(pred_sql)
    pred_norm = normalize_sql(
        pred_sql, dialect=dialect, schema=schema, tree=checked if shared else None
    )
    exact = pred_norm is not None and pred_norm == gold.normalized_sql
    if result is None:
        return ItemScore(
            mode,
            exact,
            False,
            False,
            False,
            error,
            error_kind,
            None,
            gold.row_count,
            False,
            0.0,
        )
    matched = False
    if result.truncated or gold.truncated:
        error, error_kind = "result truncated at the row cap", "Truncated"
    else:
        matched = results_equal(
            gold.rows, result.rows, mode=mode, order_matters=gold.has_order_by
        )
    plausible = not result.truncated and (gold.row_count == 0 or bool(result.rows))
    return ItemScore(
        mode,
        exact,
        True,
        matched,
        plausible,
        error,
        error_kind,
        len(result.rows),
        gold.row_count,
        result.truncated,
        result.elapsed_ms,
    )


def _rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


def _summary(scores: Sequence[ItemScore]) -> dict[str, Any]:
    total = len(scores)
    return {
        "count": total,
        "ex": _rate(sum(s.execution_match for s in scores), total),
        "em": _rate(sum(s.exact_match for s in scores), total),
        "executed": _rate(sum(s.executed for s in scores), total),
        "row_count_ok": _rate(sum(s.row_count_ok for s in scores), total),
    }


def aggregate(
    scores: Iterable[ItemScore | tuple[ItemScore, Mapping[str, str] | str]],
) -> dict[str, Any]:
    """Summarize scores overall and per segment value.

    Items are bare scores or ``(score, segments)`` pairs, where ``segments`` maps a
    dimension (e.g. ``"hardness"``) to a value, or is a single value stored under
    the dimension ``"segment"``.
    """
    overall: list[ItemScore] = []
    grouped: dict[str, dict[str, list[ItemScore]]] = {}
    for item in scores:
        if isinstance(item, ItemScore):
            score, segments = item, {}
        else:
            score, raw = item
            segments = {"segment": raw} if isinstance(raw, str) else dict(raw)
        overall.append(score)
        for dimension, value in segments.items():
            grouped.setdefault(dimension, {}).setdefault(value, []).append(score)
    return {
        "overall": _summary(overall),
        "segments": {
            dimension: {value: _summary(items) for value, items in sorted(by.items())}
            for dimension, by in sorted(grouped.items())
        },
        "sqlglot_version": SQLGLOT_VERSION,
    }
