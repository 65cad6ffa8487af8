"""Why a query behaves differently on two engines (Django-free).

A golden query written for SQLite and transpiled with sqlglot can fail on the
other engine or return another result there. This module names the likely
cause, from the engine's message or from the two results and the query's
shape. It explains, it does not prove: each reason comes with the evidence
that chose it, and a difference no rule explains is `unexplained`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from evaluation.scoring import results_equal

__all__ = [
    "REASONS",
    "Difference",
    "classify_error",
    "classify_mismatch",
    "compare_across",
]

CASE_LIKE = "case-sensitive LIKE"
CASE_COMPARE = "case-sensitive comparison"
INTEGER_DIVISION = "integer division"
NULL_ORDERING = "NULL ordering"
COLLATION = "collation/case of text"
TYPE_COERCION = "type coercion"
GROUP_BY = "GROUP BY strictness"
UNTRANSPILABLE = "untranspilable construct"
FLOAT_FORMAT = "float formatting"
IDENTIFIER_CASE = "identifier case"
SCALAR_SUBQUERY = "scalar subquery with several rows"
TIE_ORDER = "order of ties"
ENGINE_ERROR = "other engine error"
UNEXPLAINED = "unexplained"

REASONS = (
    CASE_LIKE,
    CASE_COMPARE,
    INTEGER_DIVISION,
    NULL_ORDERING,
    COLLATION,
    TYPE_COERCION,
    GROUP_BY,
    UNTRANSPILABLE,
    FLOAT_FORMAT,
    IDENTIFIER_CASE,
    SCALAR_SUBQUERY,
    TIE_ORDER,
    ENGINE_ERROR,
    UNEXPLAINED,
)

Row = tuple[Any, ...]

_ERROR_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        GROUP_BY,
        re.compile(
            r"must appear in the group by|only_full_group_by|isn't in group by"
            r"|must be part of an aggregate",
            re.IGNORECASE,
        ),
    ),
    (
        TYPE_COERCION,
        re.compile(
            r"operator does not exist|cannot compare|could not convert|conversion "
            r"error|invalid input syntax for type|no function matches|explicit type "
            r"casts?|cannot be applied|cannot mix|type mismatch|incorrect \w+ value",
            re.IGNORECASE,
        ),
    ),
    (
        SCALAR_SUBQUERY,
        re.compile(
            r"subquery returns more than 1 row|more than one row returned by a "
            r"subquery",
            re.IGNORECASE,
        ),
    ),
    (
        IDENTIFIER_CASE,
        re.compile(r"table '[^']*' doesn't exist|unknown column", re.IGNORECASE),
    ),
    (
        UNTRANSPILABLE,
        re.compile(
            r"cannot transpile|syntax error|sql syntax|not supported|unsupported"
            r"|doesn't yet support|does not exist|must have an alias",
            re.IGNORECASE,
        ),
    ),
)


@dataclass(frozen=True)
class Difference:
    """A reason (one of REASONS) and the evidence that chose it."""

    reason: str
    evidence: str

    def as_dict(self) -> dict[str, str]:
        """JSON shape for reports."""
        return {"reason": self.reason, "evidence": self.evidence}


def classify_error(message: str) -> Difference:
    """The reason a query that runs on the source engine fails on the target."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    for reason, pattern in _ERROR_RULES:
        if pattern.search(message):
            return Difference(reason, first[:200])
    return Difference(ENGINE_ERROR, first[:200])


@dataclass(frozen=True)
class _Shape:
    like: bool
    text_compare: bool
    number_compare: bool
    division: bool
    limit: bool
    bare_group_columns: bool


def _shape(sql: str, dialect: str) -> _Shape:
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except (ParseError, TokenError):
        return _Shape(False, False, False, False, False, False)
    compares = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.In)
    text_compare = any(
        isinstance(node, compares)
        and any(
            isinstance(lit, exp.Literal) and lit.is_string
            for lit in node.find_all(exp.Literal)
        )
        for node in tree.find_all(*compares)
    )
    number_compare = any(
        isinstance(side, exp.Literal) and side.is_number
        for node in tree.find_all(*compares)
        for side in (node.this, node.expression)
    )
    return _Shape(
        like=any(True for _ in tree.find_all(exp.Like, exp.ILike)),
        text_compare=text_compare,
        number_compare=number_compare,
        division=any(True for _ in tree.find_all(exp.Div)),
        limit=any(True for _ in tree.find_all(exp.Limit)),
        bare_group_columns=any(_bare_columns(s) for s in tree.find_all(exp.Select)),
    )


def _bare_columns(select: exp.Select) -> bool:
    """A selected column neither grouped nor aggregated (SQLite picks a row)."""
    group = select.args.get("group")
    if not group:
        # An aggregate beside a plain column: SQLite takes the column from a row.
        return any(p.find(exp.AggFunc) for p in select.expressions) and any(
            p.find(exp.AggFunc) is None and p.find(exp.Column) is not None
            for p in select.expressions
        )
    grouped = {e.sql().lower() for e in group.expressions}
    grouped |= {e.name.lower() for e in group.expressions if isinstance(e, exp.Column)}
    for projection in select.expressions:
        inner = projection.this if isinstance(projection, exp.Alias) else projection
        if inner.find(exp.AggFunc) is not None:
            continue
        for column in inner.find_all(exp.Column):
            if (
                column.sql().lower() not in grouped
                and column.name.lower() not in grouped
            ):
                return True
    return False


def _normal(value: Any, *, fold: bool, digits: int | None, text: bool) -> Hashable:
    if isinstance(value, Decimal) and digits is not None:
        value = float(value)
    if isinstance(value, float) and digits is not None and math.isfinite(value):
        value = round(value, digits)
        if value == int(value):
            value = int(value)
    if isinstance(value, str) and fold:
        value = value.casefold()
    if text and value is not None:
        value = str(value)
    return value if isinstance(value, Hashable) else repr(value)


def _bag(
    rows: Iterable[Row], *, fold: bool = False, digits: int | None = None,
    text: bool = False,
) -> Counter[tuple[Hashable, ...]]:  # fmt: skip
    return Counter(
        tuple(
            sorted(
                (_normal(v, fold=fold, digits=digits, text=text) for v in row),
                key=repr,
            )
        )
        for row in rows
    )


def _has_null(*results: Sequence[Row]) -> bool:
    return any(v is None for rows in results for row in rows for v in row)


def _same(source: Sequence[Row], target: Sequence[Row], **how: Any) -> bool:
    return _bag(source, **how) == _bag(target, **how)


def classify_mismatch(
    *,
    sql: str,
    source_rows: Sequence[Row],
    target_rows: Sequence[Row],
    order_matters: bool,
    dialect: str = "sqlite",
) -> Difference:
    """The reason `sql` (in `dialect`) returned other rows on the target engine.

    Call it only for results that differ under the Spider rules (row order
    counts when `order_matters`). Checks, in order: the same rows in another
    order (NULL placement, else ties), values equal but for float digits, text
    case, or type (text against number), then the query's shape (integer
    division, bare GROUP BY columns, a LIMIT cutting through ties).
    """
    shape = _shape(sql, dialect)
    nulls = _has_null(source_rows, target_rows)
    if _same(source_rows, target_rows):
        if nulls:
            return Difference(NULL_ORDERING, "same rows; NULLs sort elsewhere")
        return Difference(TIE_ORDER, "same rows in another order (equal sort keys)")
    for digits in (9, 4):
        # 4: MariaDB divides to div_precision_increment (4) decimal places.
        if _same(source_rows, target_rows, digits=digits):
            return Difference(FLOAT_FORMAT, f"values equal to {digits} decimals")
    if _same(source_rows, target_rows, fold=True, digits=9):
        if shape.like:
            return Difference(CASE_LIKE, "rows equal but for letter case; LIKE")
        if shape.text_compare:
            return Difference(CASE_COMPARE, "equal but for case; text comparison")
        return Difference(COLLATION, "rows equal but for letter case")
    if _same(source_rows, target_rows, digits=9, text=True):
        return Difference(TYPE_COERCION, "values equal once read as text")
    if shape.division:
        return Difference(INTEGER_DIVISION, "the query divides; values differ")
    if shape.bare_group_columns:
        return Difference(GROUP_BY, "a selected column is neither grouped nor "
                          "aggregated: each engine picks its own row")  # fmt: skip
    if shape.limit and len(source_rows) == len(target_rows):
        if nulls:
            return Difference(NULL_ORDERING, "LIMIT cut; NULLs sort elsewhere")
        if order_matters:
            return Difference(TIE_ORDER, "LIMIT cuts through equal sort keys")
    if shape.like:
        return Difference(CASE_LIKE, "other rows; the query filters with LIKE")
    if shape.text_compare or shape.number_compare:
        return Difference(
            TYPE_COERCION,
            "other rows; the query compares with a literal, which each engine "
            "converts its own way",
        )
    return Difference(UNEXPLAINED, f"{len(source_rows)} rows vs {len(target_rows)}")


def compare_across(
    *,
    sql: str,
    source_rows: Sequence[Row],
    target: Sequence[Row] | Exception,
    order_matters: bool,
    dialect: str = "sqlite",
) -> Difference | None:
    """None when the target's result equals the source's under the Spider rules.

    `target` is the target's rows, or the error the query raised there.
    """
    if isinstance(target, Exception):
        return classify_error(str(target))
    if results_equal(source_rows, target, mode="spider", order_matters=order_matters):
        return None
    return classify_mismatch(
        sql=sql,
        source_rows=source_rows,
        target_rows=target,
        order_matters=order_matters,
        dialect=dialect,
    )
