"""Exact match (EM): normalized SQL equality with sqlglot (Django-free).

EM is reported beside execution accuracy, never instead of it; sqlglot is not an
equivalence prover, so its version is recorded with every score.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from evaluation.canonical import FormulaNotSimplified, canonicalize, dialect_instance

__all__ = [
    "EM_VERSION",
    "PreparedSchema",
    "Schema",
    "dequote_values",
    "inferred_schema",
    "known_names",
    "normalize_sql",
    "normalize_tree",
    "prepare_schema",
    "query_names",
]

# Bumped whenever normalize_sql's output changes for some query: stored
# normalized golden SQL (GoldResultCache) is keyed by it through SQLGLOT_VERSION.
EM_VERSION = "2"

# Errors that mean "no EM for this query", never a crash that would stop scoring
# the EX of the rest: sqlglot's own, and (AttributeError, TypeError) a tree shape
# no canonical rule expected.
_NOT_NORMALIZABLE = (
    SqlglotError,
    RecursionError,
    ValueError,
    KeyError,
    AttributeError,
    TypeError,
)

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
    # normalize_sql's answers by query text on this schema: a Spider dev run
    # normalizes 1,944 texts of which 1,380 differ (paraphrased questions share
    # golden SQL). Bounded: see _remember.
    memo: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)


# A prepared schema may live as long as its process: the memo holds at most this
# many texts, each at most this long (about 20 MB at worst with its answers).
_MEMO_ENTRIES = 4096
_MEMO_SQL_CHARS = 2000


def _remember(schema: PreparedSchema, sql: str, normalized: str | None) -> None:
    if len(sql) > _MEMO_SQL_CHARS:
        return
    if len(schema.memo) >= _MEMO_ENTRIES:
        schema.memo.clear()
    schema.memo[sql] = normalized


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


def _qualified(tree: exp.Expr, read: str, schema: PreparedSchema | None) -> exp.Expr:
    def run(target: exp.Expr, mapping: Schema | MappingSchema) -> exp.Expr:
        return qualify(
            target,
            dialect=dialect_instance(read),
            db="main",
            schema=mapping if isinstance(mapping, MappingSchema) else dict(mapping),
            validate_qualify_columns=False,
        )

    if schema is not None:
        return run(tree, schema.mapping)
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


def _check_dialect(schema: Schema | PreparedSchema | None, read: str) -> None:
    # A caller's mistake, not a query sqlglot cannot read: raised, not None.
    if isinstance(schema, PreparedSchema) and schema.dialect != read:
        raise ValueError(f"schema prepared for {schema.dialect!r}, not {read!r}")


def _prepared(
    schema: Schema | PreparedSchema | None, read: str
) -> PreparedSchema | None:
    if schema is None or isinstance(schema, PreparedSchema):
        return schema
    return prepare_schema(schema, dialect=read)


def normalize_sql(
    sql: str,
    *,
    dialect: str = "sqlite",
    schema: Schema | PreparedSchema | None = None,
    tree: exp.Expr | None = None,
) -> str | None:
    """Canonical text for EM, or None when sqlglot cannot parse or qualify it.

    ``db="main"`` keeps base table names in the output: without it, table names are
    canonicalized away and different tables normalize to the same text. Without a
    schema, double-quoted words the query does not use as names are strings, and
    the columns are qualified with what the query itself shows (`inferred_schema`).
    Pass a PreparedSchema (`prepare_schema`, same dialect) when normalizing many
    queries on one database: it also remembers each text's answer. ``tree``, if
    given, is ``sql`` already parsed alone in ``dialect`` (as sqlglot.parse reads
    it, one statement): it saves a parse and is consumed (changed in place).
    """
    read = _read_dialect(dialect)
    _check_dialect(schema, read)
    try:
        prepared = _prepared(schema, read)
    except _NOT_NORMALIZABLE:
        return None
    if prepared is not None and sql in prepared.memo:
        return prepared.memo[sql]
    if tree is None:
        tree = _parse_alone(sql, read)
    try:
        normalized = None if tree is None else _normalized(tree, read, prepared)
    except FormulaNotSimplified:
        # The rewrite spoiled the tree part-way: start again from the text.
        fresh = _parse_alone(sql, read)
        normalized = (
            None
            if fresh is None
            else _normalized(fresh, read, prepared, simplify_formulas=False)
        )
    if prepared is not None:
        _remember(prepared, sql, normalized)
    return normalized


def _parse_alone(sql: str, read: str) -> exp.Expr | None:
    try:
        parsed = sqlglot.parse(sql, read=dialect_instance(read))
    except _NOT_NORMALIZABLE:
        return None
    statements = [s for s in parsed if s is not None]
    return statements[0] if len(statements) == 1 else None


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
    _check_dialect(schema, read)
    try:
        prepared = _prepared(schema, read)
    except _NOT_NORMALIZABLE:
        return None
    # Without the text, the one fresh tree a failed formula rewrite needs is a
    # copy made beforehand (normalize_sql with ``tree`` needs none).
    spare = tree.copy()
    try:
        return _normalized(tree, read, prepared)
    except FormulaNotSimplified:
        return _normalized(spare, read, prepared, simplify_formulas=False)


def _normalized(
    tree: exp.Expr,
    read: str,
    schema: PreparedSchema | None,
    *,
    simplify_formulas: bool = True,
) -> str | None:
    try:
        known = schema.known if schema is not None else query_names(tree)
        tree = _qualified(dequote_values(tree, known), read, schema)
        canonical = canonicalize(
            tree, dialect=read, simplify_formulas=simplify_formulas
        )
        # The tree is discarded: no need for sql() to render a copy of it.
        return canonical.sql(dialect=dialect_instance(read), normalize=True, copy=False)
    except _NOT_NORMALIZABLE:
        return None
