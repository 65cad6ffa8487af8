"""Error taxonomy of text-to-SQL corrections (Django-free, no model).

`classify_correction` compares the SQL the assistant generated with the SQL a
person corrected it to, on their sqlglot trees, and names what kind of mistake
the correction fixed. A correction can carry several classes. The rules are
versioned (`CLASSIFIER_VERSION`): stored classes keep the version that made
them, so a change of rules shows as taxonomy drift instead of hiding in it.

Labelling conventions (the labelled corpus follows them; each class is "that
aspect of the query differs", not a guess at the root cause):

- ``dialect_syntax``: the generated SQL does not parse in the target dialect, or
  calls a function the target (SQLite) lacks. Reported alone: nothing else can
  be compared.
- ``set_operation``: the UNION / INTERSECT / EXCEPT structure differs. Reported
  alone: the branches of two different structures do not pair up.
- ``nesting``: the number or place (FROM, WHERE, HAVING, select list) of
  subqueries differs. A table or condition that one side reaches through a
  subquery and the other through a join or a constant belongs to this class.
- ``wrong_table``: a table is used instead of another (one missing, one extra).
- ``wrong_join``: a join too many or too few, or other join conditions or kind.
- ``wrong_column``: the select list returns other columns (aggregates aside;
  the ``*`` of ``COUNT(*)`` is no column).
- ``wrong_aggregation``: other aggregate functions, GROUP BY or HAVING.
- ``wrong_filter``: a WHERE condition missing, extra, or with another operator
  or value; AND and OR swapped. Details name the operator and the literal.
- ``value_format``: a literal that differs only in letter case, surrounding
  spaces, string vs number, or date format.
- ``wrong_order_limit``: other ORDER BY keys or direction, LIMIT or OFFSET.
- ``distinct``: DISTINCT added or removed (on a select or in an aggregate).
- ``other``: the queries differ in none of these ways; details hold the diff.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from evaluation.error_comparison import (
    CLASSES,
    DIALECT_SYNTAX,
    OTHER,
    SET_OPERATION,
    Found,
    compare,
)
from evaluation.exact_match import dequote_values, known_names, normalize_sql
from evaluation.sql_features import (
    read_features,
)

__all__ = [
    "CLASSES",
    "CLASSIFIER_VERSION",
    "Classification",
    "classify_correction",
]

CLASSIFIER_VERSION = "sql-errors/1"

# SQLite's core, date, math and JSON functions (sqlite.org/lang_corefunc.html,
# lang_datefunc.html, lang_mathfunc.html, json1.html) plus CAST.
SQLITE_FUNCTIONS = frozenset(
    (
        "abs",
        "avg",
        "cast",
        "changes",
        "char",
        "coalesce",
        "concat",
        "concat_ws",
        "count",
        "date",
        "datetime",
        "format",
        "glob",
        "group_concat",
        "hex",
        "ifnull",
        "iif",
        "instr",
        "julianday",
        "last_insert_rowid",
        "length",
        "like",
        "likelihood",
        "likely",
        "lower",
        "ltrim",
        "max",
        "min",
        "nullif",
        "octet_length",
        "printf",
        "quote",
        "random",
        "randomblob",
        "replace",
        "round",
        "rtrim",
        "sign",
        "soundex",
        "sqlite_version",
        "strftime",
        "substr",
        "substring",
        "sum",
        "time",
        "timediff",
        "total",
        "total_changes",
        "trim",
        "typeof",
        "unhex",
        "unicode",
        "unixepoch",
        "unlikely",
        "upper",
        "zeroblob",
        "acos",
        "acosh",
        "asin",
        "asinh",
        "atan",
        "atan2",
        "atanh",
        "ceil",
        "ceiling",
        "cos",
        "cosh",
        "degrees",
        "exp",
        "floor",
        "ln",
        "log",
        "log10",
        "log2",
        "mod",
        "pi",
        "pow",
        "power",
        "radians",
        "sin",
        "sinh",
        "sqrt",
        "tan",
        "tanh",
        "trunc",
        "json",
        "json_array",
        "json_extract",
        "json_object",
        "json_valid",
        "json_type",
        "string_agg",
        "row_number",
        "rank",
        "dense_rank",
        "ntile",
        "lag",
        "lead",
        "first_value",
        "last_value",
        "nth_value",
        "percent_rank",
        "cume_dist",
    )
)
MAX_DIFF_LINES = 40


@dataclass(frozen=True)
class Classification:
    """The classes of one correction, what made each one, and the rules' version."""

    classes: tuple[str, ...]
    details: dict[str, list[str]] = field(default_factory=dict)
    version: str = CLASSIFIER_VERSION

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "classes": list(self.classes),
            "details": self.details,
        }


def _result(found: Found) -> Classification:
    details = found.ordered()
    return Classification(tuple(details), details)


def _message(exc: Exception) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _read(dialect: str) -> str:
    return "postgres" if dialect.lower().startswith("postgres") else dialect.lower()


def _parse(sql: str, dialect: str) -> exp.Expr:
    statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    if len(statements) != 1:
        raise ValueError(f"{len(statements)} statements, not one")
    return statements[0]


def _dequote_compared(tree: exp.Expr) -> exp.Expr:
    # Without a schema, only a double-quoted name compared with a column is
    # taken for the string SQLite reads it as (`country = "USA"`).
    for node in list(tree.find_all(exp.EQ, exp.NEQ, exp.Like, exp.In)):
        values = [node.expression] if not isinstance(node, exp.In) else node.expressions
        for value in values:
            if (
                isinstance(value, exp.Column)
                and not value.table
                and isinstance(value.this, exp.Identifier)
                and value.this.quoted
            ):
                value.replace(exp.Literal.string(value.name))
    return tree


def _prepare(
    tree: exp.Expr, schema: Mapping[str, Mapping[str, str]] | None
) -> exp.Expr:
    if schema is not None:
        return dequote_values(tree, known_names(schema))
    return _dequote_compared(tree)


def _unknown_functions(sql: str, dialect: str) -> list[str]:
    if dialect != "sqlite":
        return []
    tokens = Dialect.get_or_raise(dialect).tokenize(sql)
    return sorted(
        {
            token.text
            for token, after in itertools.pairwise(tokens)
            if token.token_type == TokenType.VAR
            and after.token_type == TokenType.L_PAREN
            and token.text.lower() not in SQLITE_FUNCTIONS
        }
    )


def _diff(generated: str, corrected: str, dialect: str) -> str:
    def pretty(sql: str) -> list[str]:
        try:
            return _parse(sql, dialect).sql(dialect=dialect, pretty=True).splitlines()
        except (SqlglotError, ValueError, RecursionError):
            return sql.splitlines()

    lines = list(
        difflib.unified_diff(
            pretty(generated), pretty(corrected), "generated", "corrected", lineterm=""
        )
    )
    return "\n".join(lines[:MAX_DIFF_LINES])


def classify_correction(
    generated: str,
    corrected: str,
    *,
    dialect: str = "sqlite",
    schema: Mapping[str, Mapping[str, str]] | None = None,
) -> Classification:
    """The error classes a correction fixed (empty when the two are the same).

    `schema` (table -> column -> type) lets unqualified columns of a join be
    resolved to their tables; without it they compare by name.
    """
    read = _read(dialect)
    found = Found()
    if not generated.strip():
        found.add(OTHER, "no SQL was generated")
        return _result(found)
    try:
        corrected_tree = _parse(corrected, read)
    except (SqlglotError, ValueError, RecursionError) as exc:
        found.add(OTHER, f"the corrected SQL does not parse: {_message(exc)}")
        return _result(found)
    try:
        generated_tree = _parse(generated, read)
    except (SqlglotError, ValueError, RecursionError) as exc:
        found.add(DIALECT_SYNTAX, f"does not parse as {read}: {_message(exc)}")
        return _result(found)
    unknown = _unknown_functions(generated, read)
    if unknown:
        found.add(DIALECT_SYNTAX, f"{read} has no function {', '.join(unknown)}")
        return _result(found)
    generated_tree = _prepare(generated_tree, schema)
    corrected_tree = _prepare(corrected_tree, schema)
    if generated_tree == corrected_tree:
        return _result(found)
    try:
        gen = read_features(generated_tree, schema=schema)
        cor = read_features(corrected_tree, schema=schema)
    except (SqlglotError, RecursionError) as exc:
        found.add(OTHER, f"cannot compare: {_message(exc)}")
        return _result(found)
    if gen.set_operations != cor.set_operations:
        found.add(
            SET_OPERATION,
            f"{' '.join(gen.set_operations) or 'none'} → "
            f"{' '.join(cor.set_operations) or 'none'}",
        )
        return _result(found)
    compare(gen, cor, found)
    if not found.details and _canonical(generated_tree, read, schema) != _canonical(
        corrected_tree, read, schema
    ):
        found.add(OTHER, _diff(generated, corrected, read) or "the queries differ")
    return _result(found)


def _canonical(
    tree: exp.Expr, dialect: str, schema: Mapping[str, Mapping[str, str]] | None
) -> str | None:
    # After qualifying, `_0.x = _1.x` and `_1.x = _0.x` are one join condition.
    def order(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.EQ) and all(
            isinstance(side, exp.Column) for side in (node.this, node.expression)
        ):
            left, right = sorted((node.this, node.expression), key=lambda c: c.sql())
            return exp.EQ(this=left.copy(), expression=right.copy())
        return node

    text = normalize_sql(tree.sql(dialect=dialect), dialect=dialect, schema=schema)
    if text is None:
        return None
    return _parse(text, dialect).transform(order).sql(dialect=dialect)
