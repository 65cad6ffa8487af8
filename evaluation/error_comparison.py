"""The comparison rules of the error taxonomy (Django-free).

`compare` reads the differences between two queries' features and records the
classes they make, following the labelling conventions in
`evaluation.error_taxonomy`.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

from evaluation.sql_features import SUBQUERY, Predicate, QueryFeatures

__all__ = ["CLASSES", "Found", "canonical_literal", "compare"]

DIALECT_SYNTAX, SET_OPERATION, NESTING = "dialect_syntax", "set_operation", "nesting"
WRONG_TABLE, WRONG_JOIN, WRONG_COLUMN = "wrong_table", "wrong_join", "wrong_column"
WRONG_AGGREGATION, WRONG_FILTER = "wrong_aggregation", "wrong_filter"
VALUE_FORMAT, WRONG_ORDER_LIMIT = "value_format", "wrong_order_limit"
DISTINCT, OTHER = "distinct", "other"

CLASSES: dict[str, str] = {
    WRONG_TABLE: "Wrong table",
    WRONG_JOIN: "Wrong or missing join",
    WRONG_COLUMN: "Wrong column selected",
    WRONG_FILTER: "Missing or wrong filter",
    WRONG_AGGREGATION: "Wrong aggregation or GROUP BY",
    WRONG_ORDER_LIMIT: "Wrong ORDER BY / LIMIT",
    DISTINCT: "DISTINCT",
    SET_OPERATION: "Set operation",
    NESTING: "Nesting / subquery",
    DIALECT_SYNTAX: "Dialect or syntax error",
    VALUE_FORMAT: "Value formatting",
    OTHER: "Other",
}

_DATE_FORMATS: tuple[str, ...] = ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%Y/%m/%d")
_DATE_FORMATS += (
    "%d.%m.%Y",
    "%Y%m%d",
    "%B %d, %Y",
    "%d %B %Y",
    "%b %d, %Y",
    "%d %b %Y",
)


class Found:
    """Classes found so far, each with the differences that made it."""

    def __init__(self) -> None:
        self.details: dict[str, list[str]] = {}

    def add(self, name: str, detail: str) -> None:
        notes = self.details.setdefault(name, [])
        if detail not in notes:
            notes.append(detail)

    def ordered(self) -> dict[str, list[str]]:
        """The details by class, in the taxonomy's order."""
        return {c: self.details[c] for c in CLASSES if c in self.details}


def canonical_literal(text: str) -> str:
    """A literal with letter case, spacing, number and date formats erased."""
    value = re.sub(r"\s+", " ", text.strip()).casefold()
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        return repr(int(number)) if number.is_integer() else repr(number)
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date().isoformat()  # noqa: DTZ007
        except ValueError:
            continue
    return value


def _pair_predicates(
    generated: list[Predicate],
    corrected: list[Predicate],
    found: Found,
    where: str,
    *,
    elsewhere: tuple[list[Predicate], list[Predicate]] = ([], []),
) -> None:
    """Pair conditions by column and operator; name what differs.

    `elsewhere` holds the conditions each side keeps inside subqueries when the
    nesting differs: a condition moved into or out of a subquery is nesting.
    """
    left, right = Counter(generated), Counter(corrected)
    common = left & right
    extra, missing = list((left - common).elements()), list((right - common).elements())
    filter_class = WRONG_AGGREGATION if where == "HAVING" else WRONG_FILTER
    for gen in list(extra):
        match = next(
            (c for c in missing if (c.lhs, c.op) == (gen.lhs, gen.op)),
            None,
        ) or next((c for c in missing if c.lhs == gen.lhs and c.lhs), None)
        if match is None:
            continue
        extra.remove(gen)
        missing.remove(match)
        if SUBQUERY in (gen.rhs, match.rhs) and gen.rhs != match.rhs:
            found.add(NESTING, f"{where} {match.lhs}: value {gen.rhs} → {match.rhs}")
        elif gen.op != match.op:
            found.add(
                filter_class,
                f"{where} {match.lhs}: operator {gen.op} → {match.op}",
            )
            if gen.rhs != match.rhs:
                _compare_values(gen, match, found, filter_class, where)
        else:
            _compare_values(gen, match, found, filter_class, where)
    nesting = where == "WHERE" and NESTING in found.details
    for gen in extra:
        if nesting and (gen.rhs == SUBQUERY or gen in elsewhere[1]):
            found.add(NESTING, f"{where}: {gen.describe()} is nested on one side")
        else:
            found.add(filter_class, f"{where}: extra condition {gen.describe()}")
    for cor in missing:
        if nesting and (cor.rhs == SUBQUERY or cor in elsewhere[0]):
            found.add(NESTING, f"{where}: {cor.describe()} is nested on one side")
        else:
            found.add(filter_class, f"{where}: missing condition {cor.describe()}")


def _compare_values(
    gen: Predicate, cor: Predicate, found: Found, filter_class: str, where: str
) -> None:
    same_shape = len(gen.literals) == len(cor.literals) > 0
    if same_shape and [canonical_literal(v) for v in gen.literals] == [
        canonical_literal(v) for v in cor.literals
    ]:
        found.add(VALUE_FORMAT, f"{where} {cor.lhs}: {gen.rhs} → {cor.rhs}")
    else:
        found.add(filter_class, f"{where} {cor.lhs}: value {gen.rhs} → {cor.rhs}")


def _compare_tables(gen: QueryFeatures, cor: QueryFeatures, found: Found) -> None:
    nesting_differs = NESTING in found.details
    extra = set(gen.outer_tables) - set(cor.outer_tables)
    missing = set(cor.outer_tables) - set(gen.outer_tables)
    if nesting_differs:
        # A table reached through a subquery on the other side is nesting.
        extra -= set(cor.nested_tables)
        missing -= set(gen.nested_tables)
    if extra and missing:
        found.add(
            WRONG_TABLE, f"{', '.join(sorted(extra))} → {', '.join(sorted(missing))}"
        )
    elif extra or missing:
        for table in sorted(extra):
            found.add(WRONG_JOIN, f"extra table {table}")
        for table in sorted(missing):
            found.add(WRONG_JOIN, f"missing table {table}")
    elif not nesting_differs and set(gen.outer_tables) == set(cor.outer_tables):
        if gen.outer_tables != cor.outer_tables:
            found.add(
                WRONG_JOIN,
                f"tables joined {dict(gen.outer_tables)} → {dict(cor.outer_tables)}",
            )
        if gen.joins != cor.joins:
            for cond in sorted(set(gen.joins) - set(cor.joins)):
                found.add(WRONG_JOIN, f"condition {cond} not wanted")
            for cond in sorted(set(cor.joins) - set(gen.joins)):
                found.add(WRONG_JOIN, f"condition {cond} needed")
        if gen.join_kinds != cor.join_kinds:
            found.add(
                WRONG_JOIN,
                f"join kinds {dict(gen.join_kinds)} → {dict(cor.join_kinds)}",
            )
    if not nesting_differs:
        nested_extra = set(gen.nested_tables) - set(cor.nested_tables)
        nested_missing = set(cor.nested_tables) - set(gen.nested_tables)
        if nested_extra and nested_missing:
            found.add(
                WRONG_TABLE,
                f"in a subquery: {', '.join(sorted(nested_extra))} → "
                f"{', '.join(sorted(nested_missing))}",
            )
        elif nested_extra or nested_missing:
            found.add(
                WRONG_JOIN,
                f"in a subquery: tables {', '.join(sorted(nested_extra)) or 'none'}"
                f" not wanted, {', '.join(sorted(nested_missing)) or 'none'} needed",
            )


def _join_classes(features: QueryFeatures) -> dict[str, str]:
    """Each joined column's representative: columns equal by a join are one."""
    parent: dict[str, str] = {}

    def find(name: str) -> str:
        while parent.get(name, name) != name:
            name = parent[name]
        return name

    for condition in features.joins:
        left, right = (find(side) for side in condition.split(" = "))
        if left != right:
            parent[max(left, right)] = min(left, right)
    return {name: find(name) for name in parent}


def _compare_select_lists(
    gen: QueryFeatures, cor: QueryFeatures, found: Found, same_tables: bool
) -> None:
    same = (_join_classes(gen), _join_classes(cor))
    for branch, (g, c) in enumerate(
        zip(gen.projections, cor.projections, strict=False)
    ):
        where = f"branch {branch + 1}: " if len(cor.projections) > 1 else ""
        g_cols = Counter(
            same[0].get(p.qualified, p.qualified) if same_tables else p.inner for p in g
        )
        c_cols = Counter(
            same[1].get(p.qualified, p.qualified) if same_tables else p.inner for p in c
        )
        g_cols.pop("*", None)
        c_cols.pop("*", None)
        if g_cols != c_cols:
            found.add(
                WRONG_COLUMN,
                f"{where}{', '.join(sorted(g_cols.elements())) or 'none'} → "
                f"{', '.join(sorted(c_cols.elements())) or 'none'}",
            )
        g_aggs = Counter(p.aggregate for p in g if p.aggregate)
        c_aggs = Counter(p.aggregate for p in c if p.aggregate)
        if g_aggs != c_aggs:
            found.add(
                WRONG_AGGREGATION,
                f"{where}aggregates {sorted(g_aggs.elements()) or 'none'} → "
                f"{sorted(c_aggs.elements()) or 'none'}",
            )


def compare(gen: QueryFeatures, cor: QueryFeatures, found: Found) -> None:
    if gen.subqueries != cor.subqueries:
        found.add(
            NESTING,
            f"subqueries {dict(gen.subqueries) or 'none'} → "
            f"{dict(cor.subqueries) or 'none'}",
        )
    _compare_tables(gen, cor, found)
    same_tables = set(gen.outer_tables) == set(cor.outer_tables)
    _compare_select_lists(gen, cor, found, same_tables)
    if gen.distinct_aggregates != cor.distinct_aggregates:
        found.add(
            DISTINCT,
            f"aggregates over DISTINCT values {gen.distinct_aggregates} → "
            f"{cor.distinct_aggregates}",
        )
    if gen.distinct_selects != cor.distinct_selects:
        found.add(
            DISTINCT,
            f"SELECT DISTINCT {gen.distinct_selects} → {cor.distinct_selects}",
        )
    if NESTING in found.details:
        _pair_predicates(
            gen.predicates,
            cor.predicates,
            found,
            "WHERE",
            elsewhere=(gen.nested_predicates, cor.nested_predicates),
        )
    else:
        _pair_predicates(gen.predicates, cor.predicates, found, "WHERE")
        _pair_predicates(
            gen.nested_predicates, cor.nested_predicates, found, "subquery WHERE"
        )
        _compare_nested(gen, cor, found)
        if gen.nested_connectors != cor.nested_connectors:
            found.add(WRONG_FILTER, "AND/OR inside a subquery")
    if gen.connectors != cor.connectors and NESTING not in found.details:
        found.add(
            WRONG_FILTER,
            f"connectors {dict(gen.connectors) or 'none'} → "
            f"{dict(cor.connectors) or 'none'}",
        )
    if gen.group_by != cor.group_by:
        found.add(
            WRONG_AGGREGATION,
            f"GROUP BY {sorted(gen.group_by) or 'none'} → "
            f"{sorted(cor.group_by) or 'none'}",
        )
    _pair_predicates(gen.having, cor.having, found, "HAVING")
    if gen.order_by != cor.order_by:
        found.add(WRONG_ORDER_LIMIT, f"ORDER BY {_order(gen)} → {_order(cor)}")
    if (gen.limit, gen.offset) != (cor.limit, cor.offset):
        found.add(
            WRONG_ORDER_LIMIT,
            f"LIMIT {gen.limit or 'none'} → {cor.limit or 'none'}"
            + (
                f" (OFFSET {gen.offset} → {cor.offset})"
                if gen.offset or cor.offset
                else ""
            ),
        )


def _compare_nested(gen: QueryFeatures, cor: QueryFeatures, found: Found) -> None:
    """Subqueries in the same places: compare their select lists and order."""
    pairs = zip(gen.nested_projections, cor.nested_projections, strict=False)
    for g, c in pairs:
        if Counter(p.aggregate for p in g) != Counter(p.aggregate for p in c):
            found.add(WRONG_AGGREGATION, "aggregate of a subquery")
        if Counter(p.inner for p in g) != Counter(p.inner for p in c):
            found.add(WRONG_COLUMN, "select list of a subquery")
    for g_order, c_order in zip(gen.nested_order, cor.nested_order, strict=False):
        if g_order != c_order:
            found.add(WRONG_ORDER_LIMIT, f"in a subquery: {g_order} → {c_order}")


def _order(features: QueryFeatures) -> str:
    keys = [f"{k} {'DESC' if desc else 'ASC'}" for k, desc in features.order_by]
    return ", ".join(keys) or "none"
