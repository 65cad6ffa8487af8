"""Readers for the Spider file formats and Spider's hardness classification.

Files are read the way the official evaluator (taoyds/test-suite-sql-eval,
``evaluation.py``) reads them, so that item alignment and truncation match
published numbers: each line is stripped and split at tabs, blank lines are
session separators (not items), and a prediction is the text before its first tab.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

__all__ = [
    "HARDNESS_LEVELS",
    "GoldLine",
    "SpiderExample",
    "TableSchema",
    "database_path",
    "hardness",
    "hardness_of",
    "load_examples",
    "load_tables",
    "read_gold",
    "read_predictions",
]

HARDNESS_LEVELS = ("easy", "medium", "hard", "extra")


@dataclass(frozen=True, slots=True)
class SpiderExample:
    """One dev.json item: question, golden SQL and its database."""

    db_id: str
    question: str
    query: str


@dataclass(frozen=True, slots=True)
class GoldLine:
    """One ``query<TAB>db_id`` line of a gold file."""

    query: str
    db_id: str


@dataclass(frozen=True, slots=True)
class TableSchema:
    """Schema of one database from tables.json, with original names."""

    db_id: str
    columns: dict[str, dict[str, str]]

    def sqlglot_schema(self) -> dict[str, dict[str, str]]:
        """Mapping table -> column -> type as sqlglot expects it."""
        return self.columns


def _lines(path: str | Path) -> list[list[str]]:
    text = Path(path).read_text(encoding="utf-8")
    # Mirror f.readlines() + strip(): only "\n" ends a line, "\r" is stripped.
    return [line.strip().split("\t") for line in text.split("\n") if line.strip()]


def read_gold(path: str | Path) -> list[GoldLine]:
    """Read a ``query<TAB>db_id`` gold file (blank lines are not items)."""
    rows = _lines(path)
    bad = [i for i, parts in enumerate(rows) if len(parts) != 2]
    if bad:
        raise ValueError(f"gold lines without exactly one tab: {bad[:5]}")
    return [GoldLine(query=q, db_id=db) for q, db in rows]


def read_predictions(path: str | Path) -> list[str]:
    """Read one prediction per line, cut at the first tab as the official tool does."""
    return [parts[0] for parts in _lines(path)]


def load_examples(path: str | Path) -> list[SpiderExample]:
    """Read dev.json / train_spider.json items."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [
        SpiderExample(db_id=d["db_id"], question=d["question"], query=d["query"])
        for d in data
    ]


def load_tables(path: str | Path) -> dict[str, TableSchema]:
    """Read tables.json into schemas keyed by db_id."""
    schemas: dict[str, TableSchema] = {}
    for entry in json.loads(Path(path).read_text(encoding="utf-8")):
        tables: list[str] = entry["table_names_original"]
        columns: dict[str, dict[str, str]] = {t: {} for t in tables}
        for (table_index, name), col_type in zip(
            entry["column_names_original"], entry["column_types"], strict=True
        ):
            if table_index >= 0:
                columns[tables[table_index]][name] = col_type
        schemas[entry["db_id"]] = TableSchema(db_id=entry["db_id"], columns=columns)
    return schemas


def database_path(root: str | Path, db_id: str) -> Path:
    """Path of a Spider database file: ``<root>/<db_id>/<db_id>.sqlite``."""
    return Path(root) / db_id / f"{db_id}.sqlite"


# --- hardness -----------------------------------------------------------------
# The official rules count features of the top-level query as parsed by
# process_sql.py; quirks of that parser are reproduced on purpose (noted inline).

_AGGREGATES = (exp.Max, exp.Min, exp.Count, exp.Sum, exp.Avg)
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div)


def _unwrap(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren | exp.Alias):
        node = node.this
    return node


def _flatten(cond: exp.Expr | None) -> tuple[list[exp.Expr], list[str]]:
    """Condition as process_sql sees it: atomic units and and/or connectors."""
    if cond is None:
        return [], []
    cond = _unwrap(cond)
    if isinstance(cond, exp.And | exp.Or):
        left_units, left_ops = _flatten(cond.left)
        right_units, right_ops = _flatten(cond.right)
        op = "and" if isinstance(cond, exp.And) else "or"
        return left_units + right_units, [*left_ops, op, *right_ops]
    return [cond], []


def _negated(unit: exp.Expr) -> bool:
    return isinstance(unit, exp.Not)


def _is_like(unit: exp.Expr) -> bool:
    inner = unit.this if isinstance(unit, exp.Not) else unit
    return isinstance(inner, exp.Like | exp.ILike)


def _has_subquery_value(unit: exp.Expr) -> bool:
    inner = unit.this if isinstance(unit, exp.Not) else unit
    operands = list(inner.iter_expressions())
    # The left-hand side is a column in process_sql; only values can be queries.
    values = operands[1:] if operands else []
    return any(isinstance(_unwrap(v), exp.Subquery | exp.Select) for v in values)


def _is_agg(node: exp.Expr | None) -> bool:
    return node is not None and isinstance(_unwrap(node), _AGGREGATES)


def _leftmost_select(tree: exp.Expr) -> exp.Select | None:
    node = _unwrap(tree)
    while isinstance(node, exp.SetOperation | exp.Subquery):
        node = _unwrap(node.left if isinstance(node, exp.SetOperation) else node.this)
    return node if isinstance(node, exp.Select) else None


def _counts(tree: exp.Expr) -> tuple[int, int, int]:
    select = _leftmost_select(tree)
    if select is None:
        raise ValueError("not a SELECT query")
    where = select.args.get("where")
    having = select.args.get("having")
    group = select.args.get("group")
    order = select.args.get("order")
    joins = select.args.get("joins") or []
    where_units, where_ops = _flatten(where.this if where else None)
    having_units, having_ops = _flatten(having.this if having else None)
    from_units: list[exp.Expr] = []
    from_ops: list[str] = []
    for join in joins:
        units, ops = _flatten(join.args.get("on"))
        if from_units and units:
            from_ops.append("and")
        from_units += units
        from_ops += ops
    all_units = from_units + where_units + having_units
    group_items = group.expressions if group else []
    order_items = [o.this for o in order.expressions] if order else []

    comp1 = sum(
        (
            bool(where_units),
            bool(group_items),
            bool(order_items),
            select.args.get("limit") is not None,
        )
    )
    if select.args.get("from_") is not None or select.args.get("from") is not None:
        comp1 += len(joins)
    comp1 += (from_ops + where_ops + having_ops).count("or")
    comp1 += sum(_is_like(u) for u in all_units)

    comp2 = sum(_has_subquery_value(u) for u in all_units)
    comp2 += isinstance(_unwrap(tree), exp.SetOperation)

    agg = sum(_is_agg(e) for e in select.expressions)
    # Quirk: process_sql tests cond_unit[0], which is the NOT flag, not an aggregate.
    agg += sum(_negated(u) for u in where_units)
    agg += sum(_is_agg(g) for g in group_items)
    for item in order_items:
        node = _unwrap(item)
        if isinstance(node, _ARITHMETIC):
            agg += _is_agg(node.left) + _is_agg(node.right)
        else:
            agg += _is_agg(node)
    # Quirk: every and/or connector in HAVING counts as an aggregate there.
    agg += len(having_ops) + sum(_negated(u) for u in having_units)
    others = sum(
        (
            agg > 1,
            len(select.expressions) > 1,
            len(where_units) > 1,
            len(group_items) > 1,
        )
    )
    return comp1, comp2, others


def hardness(sql: str, *, dialect: str = "sqlite") -> str:
    """Spider difficulty level (easy/medium/hard/extra) of a golden query."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except SqlglotError as err:
        raise ValueError(f"cannot parse: {err}") from err
    return hardness_of(tree)


def hardness_of(tree: exp.Expr) -> str:
    """`hardness` of a query already parsed (the tree is only read)."""
    comp1, comp2, others = _counts(tree)
    if comp1 <= 1 and others == 0 and comp2 == 0:
        return "easy"
    if (others <= 2 and comp1 <= 1 and comp2 == 0) or (
        comp1 <= 2 and others < 2 and comp2 == 0
    ):
        return "medium"
    if (
        (others > 2 and comp1 <= 2 and comp2 == 0)
        or (2 < comp1 <= 3 and others <= 2 and comp2 == 0)
        or (comp1 <= 1 and others == 0 and comp2 <= 1)
    ):
        return "hard"
    return "extra"
