"""Exact match (EM): normalized SQL equality with sqlglot (Django-free).

EM is reported beside execution accuracy, never instead of it; sqlglot is not an
equivalence prover, so its version is recorded with every score.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

__all__ = [
    "PreparedSchema",
    "Schema",
    "dequote_values",
    "known_names",
    "normalize_sql",
    "normalize_tree",
    "prepare_schema",
]

# table -> column -> type, as sqlglot's MappingSchema accepts it.
Schema = Mapping[str, Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class PreparedSchema:
    """A schema made ready once, for every normalize_sql call on one database.

    Building sqlglot's MappingSchema normalizes every name: done per query, it
    cost about a tenth of scoring a Spider item.
    """

    mapping: MappingSchema
    known: frozenset[str]
    dialect: str


def _read_dialect(dialect: str) -> str:
    return "postgres" if dialect.lower().startswith("postgres") else dialect


def prepare_schema(schema: Schema, *, dialect: str = "sqlite") -> PreparedSchema:
    """Build the sqlglot schema and the known names of ``schema`` once."""
    read = _read_dialect(dialect)
    return PreparedSchema(
        mapping=MappingSchema(dict(schema), dialect=read),
        known=frozenset(known_names(schema)),
        dialect=read,
    )


def known_names(schema: Schema) -> set[str]:
    """Every table and column name of a schema, lowercased."""
    names = {t.lower() for t in schema}
    names.update(c.lower() for cols in schema.values() for c in cols)
    return names


def dequote_values(tree: exp.Expr, known: AbstractSet[str]) -> exp.Expr:
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


def _prepared(
    schema: Schema | PreparedSchema | None, read: str
) -> PreparedSchema | None:
    if schema is None or isinstance(schema, PreparedSchema):
        if schema is not None and schema.dialect != read:
            raise ValueError(f"schema prepared for {schema.dialect!r}, not {read!r}")
        return schema
    return prepare_schema(schema, dialect=read)


def normalize_sql(
    sql: str,
    *,
    dialect: str = "sqlite",
    schema: Schema | PreparedSchema | None = None,
) -> str | None:
    """Canonical text for EM, or None when sqlglot cannot parse or qualify it.

    ``db="main"`` keeps base table names in the output: without it, table names are
    canonicalized away and different tables normalize to the same text. Pass a
    PreparedSchema (`prepare_schema`, same dialect) when normalizing many queries
    on one database.
    """
    read = _read_dialect(dialect)
    prepared = _prepared(schema, read)
    try:
        statements = [s for s in sqlglot.parse(sql, read=read) if s is not None]
    except (SqlglotError, RecursionError, ValueError, KeyError):
        return None
    if len(statements) != 1:
        return None
    return normalize_tree(statements[0], dialect=read, schema=prepared)


def normalize_tree(
    tree: exp.Expr,
    *,
    dialect: str = "sqlite",
    schema: Schema | PreparedSchema | None = None,
) -> str | None:
    """`normalize_sql` of a query already parsed alone in ``dialect``.

    The tree is consumed (changed in place): callers that parsed a query for
    another purpose first save a second parse.
    """
    read = _read_dialect(dialect)
    prepared = _prepared(schema, read)
    try:
        if prepared is not None:
            tree = dequote_values(tree, prepared.known)
        tree = qualify(
            tree,
            dialect=read,
            db="main",
            schema=prepared.mapping if prepared is not None else None,
            validate_qualify_columns=False,
            canonicalize_table_aliases=True,
        )
        # The tree is discarded: no need for sql() to render a copy of it.
        return _strip_output_aliases(tree).sql(dialect=read, normalize=True, copy=False)
    except (SqlglotError, RecursionError, ValueError, KeyError):
        return None
