"""Exact match (EM): normalized SQL equality with sqlglot (Django-free).

EM is reported beside execution accuracy, never instead of it; sqlglot is not an
equivalence prover, so its version is recorded with every score.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify

__all__ = ["Schema", "dequote_values", "known_names", "normalize_sql"]

# table -> column -> type, as sqlglot's MappingSchema accepts it.
Schema = Mapping[str, Mapping[str, str]]


def known_names(schema: Schema) -> set[str]:
    """Every table and column name of a schema, lowercased."""
    names = {t.lower() for t in schema}
    names.update(c.lower() for cols in schema.values() for c in cols)
    return names


def dequote_values(tree: exp.Expr, known: set[str]) -> exp.Expr:
    """Double-quoted names that name no table or column become string literals."""

    # SQLite reads "JetBlue Airways" as a string when no such column exists; sqlglot
    # reads an identifier, and qualify() then fails or invents a column.
    def swap(node: exp.Expr) -> exp.Expr:
        if (
            isinstance(node, exp.Column)
            and not node.table
            and isinstance(node.this, exp.Identifier)
            and node.this.quoted
            and node.name.lower() not in known
        ):
            return exp.Literal.string(node.name)
        return node

    return tree.transform(swap, copy=False)


def _strip_output_aliases(tree: exp.Expr) -> exp.Expr:
    # Output column names do not change a result's rows, and qualify() invents
    # names (_col_1) that a prediction's own aliases never match.
    selects = [tree] if isinstance(tree, exp.Select) else []
    if isinstance(tree, exp.SetOperation):
        selects = [s for s in tree.find_all(exp.Select) if s.parent_select is None]
    for select in selects:
        aliases = {
            e.alias: e.this for e in select.expressions if isinstance(e, exp.Alias)
        }
        order = select.args.get("order")
        for ordered in order.expressions if order else []:
            key = ordered.this
            if isinstance(key, exp.Column) and not key.table and key.name in aliases:
                ordered.set("this", aliases[key.name].copy())
        select.set(
            "expressions",
            [e.this if isinstance(e, exp.Alias) else e for e in select.expressions],
        )
    return tree


def normalize_sql(
    sql: str, *, dialect: str = "sqlite", schema: Schema | None = None
) -> str | None:
    """Canonical text for EM, or None when sqlglot cannot parse or qualify it.

    ``db="main"`` keeps base table names in the output: without it, table names are
    canonicalized away and different tables normalize to the same text.
    """
    read = "postgres" if dialect.lower().startswith("postgres") else dialect
    try:
        statements = [s for s in sqlglot.parse(sql, read=read) if s is not None]
        if len(statements) != 1:
            return None
        tree = statements[0]
        if schema is not None:
            tree = dequote_values(tree, known_names(schema))
        tree = qualify(
            tree,
            dialect=read,
            db="main",
            schema=dict(schema) if schema is not None else None,
            validate_qualify_columns=False,
            canonicalize_table_aliases=True,
        )
        return _strip_output_aliases(tree).sql(dialect=read, normalize=True)
    except (SqlglotError, RecursionError, ValueError, KeyError):
        return None
