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

from evaluation.canonical import canonicalize

__all__ = [
    "EM_VERSION",
    "Schema",
    "dequote_values",
    "inferred_schema",
    "known_names",
    "normalize_sql",
    "query_names",
]

# Bumped whenever normalize_sql's output changes for some query: stored
# normalized golden SQL (GoldResultCache) is keyed by it through SQLGLOT_VERSION.
EM_VERSION = "2"

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


def query_names(tree: exp.Expr) -> set[str]:
    """Names a query itself shows to be identifiers, lowercased.

    Tables, aliases, CTE names, column qualifiers and unquoted column names:
    without a schema, a double-quoted name outside this set is read as SQLite
    reads a double-quoted word that names nothing, a string.
    """
    names = {t.name.lower() for t in tree.find_all(exp.Table)}
    names.update(a.name.lower() for a in tree.find_all(exp.TableAlias) if a.name)
    for column in tree.find_all(exp.Column):
        if column.table:
            names.add(column.table.lower())
        if isinstance(column.this, exp.Identifier) and not column.this.quoted:
            names.add(column.name.lower())
    return names


def _enclosing_tables(column: exp.Column) -> dict[str, str]:
    select = column.find_ancestor(exp.Select)
    if select is None:
        return {}
    sources = [select.args["from_"].this] if select.args.get("from_") else []
    sources += [j.this for j in select.args.get("joins") or []]
    return {
        t.alias_or_name.lower(): t.name.lower()
        for t in sources
        if isinstance(t, exp.Table)
    }


def inferred_schema(tree: exp.Expr) -> dict[str, dict[str, str]]:
    """The columns a query uses of each table, as far as the query shows them.

    Stands in for the schema when none is given: a qualified column belongs to
    its alias's table, an unqualified one to the only table of its SELECT. Lets
    qualify() resolve the columns of subqueries, which it otherwise refuses.
    """
    schema: dict[str, dict[str, str]] = {
        t.name.lower(): {} for t in tree.find_all(exp.Table)
    }
    for column in tree.find_all(exp.Column):
        if isinstance(column.this, exp.Star):
            continue
        tables = _enclosing_tables(column)
        if column.table:
            table = tables.get(column.table.lower())
        else:
            table = next(iter(tables.values())) if len(tables) == 1 else None
        if table is not None:
            schema[table][column.name.lower()] = "unknown"
    return schema


def _qualified(tree: exp.Expr, read: str, schema: Schema | None) -> exp.Expr:
    def run(target: exp.Expr, mapping: Schema) -> exp.Expr:
        return qualify(
            target,
            dialect=read,
            db="main",
            schema=dict(mapping),
            validate_qualify_columns=False,
        )

    if schema is not None:
        return run(tree, schema)
    try:
        return run(tree.copy(), inferred_schema(tree))
    except SqlglotError:
        pass
    # Columns the query does not attribute stay as written: the canonical rules
    # touch only qualified columns, so the text stays a faithful spelling.
    try:
        return run(tree.copy(), {})
    except SqlglotError:
        return tree


def normalize_sql(
    sql: str, *, dialect: str = "sqlite", schema: Schema | None = None
) -> str | None:
    """Canonical text for EM, or None when sqlglot cannot parse or qualify it.

    ``db="main"`` keeps base table names in the output: without it, table names are
    canonicalized away and different tables normalize to the same text. Without a
    schema, double-quoted words the query does not use as names are strings, and
    the columns are qualified with what the query itself shows (`inferred_schema`).
    """
    read = "postgres" if dialect.lower().startswith("postgres") else dialect
    try:
        statements = [s for s in sqlglot.parse(sql, read=read) if s is not None]
        if len(statements) != 1:
            return None
        tree = statements[0]
        known = known_names(schema) if schema is not None else query_names(tree)
        tree = _qualified(dequote_values(tree, known), read, schema)
        return canonicalize(tree, dialect=read).sql(dialect=read, normalize=True)
    except (SqlglotError, RecursionError, ValueError, KeyError):
        return None
    except (AttributeError, TypeError):
        # A tree shape no rule expected: no EM for this item, never a crash
        # that would stop scoring the EX of the rest.
        return None
