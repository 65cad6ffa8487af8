"""Move golden SQL between engines with sqlglot (Django-free).

A golden set written for one engine can be imported onto another: each query is
transpiled to the target's dialect, then verified by running it there (the
caller's job). sqlglot rewrites syntax, not meaning, so a transpiled query that
runs is not thereby proven equivalent; queries that do not run are listed.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError

__all__ = [
    "SQLGLOT_VERSION",
    "TranspileError",
    "canonical_dialect",
    "transpile_sql",
]

SQLGLOT_VERSION: str = sqlglot.__version__
_ALIASES = {"postgresql": "postgres"}


class TranspileError(ValueError):
    """The query cannot be carried to the other dialect."""


def canonical_dialect(name: str) -> str:
    """sqlglot's name for a dialect (``postgresql`` -> ``postgres``).

    Raises TranspileError for a name sqlglot does not know.
    """
    key = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if not key or Dialect.get(key) is None:
        raise TranspileError(f"Unknown SQL dialect {name!r}.")
    return key


def _sqlite_strings(tree: exp.Expr, columns: set[str]) -> None:
    # SQLite reads a double-quoted word that names no column as a string
    # literal; every other engine reads it as an identifier and fails.
    aliases = {a.alias.lower() for a in tree.find_all(exp.Alias) if a.alias}
    for column in list(tree.find_all(exp.Column)):
        ident = column.this
        if (
            isinstance(ident, exp.Identifier)
            and ident.quoted
            and not column.table
            and ident.name.lower() not in columns | aliases
        ):
            column.replace(exp.Literal.string(ident.name))


def _table_spelling(tree: exp.Expr, tables: Iterable[str]) -> None:
    # SQLite matches table names and aliases in any case; MariaDB on Linux
    # only as created or declared.
    known = {t.lower(): t for t in tables}
    for table in tree.find_all(exp.Table):
        ident = table.this
        if isinstance(ident, exp.Identifier) and not table.args.get("db"):
            spelled = known.get(ident.name.lower())
            if spelled is not None and spelled != ident.name:
                ident.set("this", spelled)
    aliases = {a.name.lower(): a.name for a in tree.find_all(exp.TableAlias) if a.name}
    for column in tree.find_all(exp.Column):
        qualifier = column.args.get("table")
        if isinstance(qualifier, exp.Identifier):
            key = qualifier.name.lower()
            spelled = aliases.get(key) or known.get(key)
            if spelled is not None and spelled != qualifier.name:
                qualifier.set("this", spelled)


def transpile_sql(
    sql: str,
    *,
    read: str,
    write: str,
    columns: Iterable[str] = (),
    tables: Iterable[str] = (),
) -> str:
    """``sql`` (one statement) rewritten from dialect ``read`` to ``write``.

    `columns` are the target's column names: from SQLite, a double-quoted name
    that is none of them (nor a select alias) becomes the string SQLite reads it
    as. `tables` are the target's table names: a table (or alias) named in
    another case takes the target's (or the declared) spelling. Raises
    TranspileError when sqlglot cannot parse the query or reports a construct
    it cannot render in ``write``.
    """
    source, target = canonical_dialect(read), canonical_dialect(write)
    try:
        trees = sqlglot.parse(sql, read=source)
        statements = [tree for tree in trees if tree is not None]
        if len(statements) != 1:
            raise TranspileError(f"Expected one statement, found {len(statements)}.")
        tree = statements[0]
        if source == "sqlite":
            _sqlite_strings(tree, {c.lower() for c in columns})
        _table_spelling(tree, tables)
        return tree.sql(dialect=target, unsupported_level=ErrorLevel.RAISE)
    except (ParseError, TokenError, UnsupportedError) as exc:
        raise TranspileError(str(exc).splitlines()[0]) from None
