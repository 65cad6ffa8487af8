"""Static gate for generated SQL: one read-only query or a clear rejection.

The gate is one of two independent layers. The engine-level sandbox
(:mod:`evaluation.sandbox`) must hold on its own when the gate is bypassed, and the
gate must hold on its own when a sandbox is misconfigured. The gate therefore does
not trust the shape of the root node: sqlglot parses data-modifying CTEs,
``SELECT ... INTO``, ``FOR UPDATE`` and ``SELECT set_config(...)`` with a ``Select``
root, so the whole tree is walked.
"""

from __future__ import annotations

import logging
import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

__all__ = [
    "MAX_SIZE_ARGUMENT",
    "MAX_SQL_LENGTH",
    "InvalidSQL",
    "SQLRejected",
    "UnsafeSQL",
    "check_sql",
    "checked_statement",
    "parse_checked",
]

MAX_SQL_LENGTH = 100_000
# Upper bound for size arguments of functions that allocate (randomblob, repeat...).
MAX_SIZE_ARGUMENT = 1_000_000

_DIALECTS = {
    "sqlite": "sqlite",
    "postgres": "postgres",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "duckdb": "duckdb",
}


class SQLRejected(ValueError):
    """Base class: the SQL text is not accepted for execution."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidSQL(SQLRejected):
    """The text does not parse as SQL in the given dialect."""


class UnsafeSQL(SQLRejected):
    """The text parses but is not a single read-only query."""


def _node_types(*names: str) -> tuple[type[exp.Expr], ...]:
    # Some names move between sqlglot releases; tolerate absent ones instead of
    # failing at import (the version is pinned, but the gate must not crash).
    return tuple(t for n in names if isinstance(t := getattr(exp, n, None), type))


_FORBIDDEN_NODES = _node_types(
    *[
        "Insert",
        "Update",
        "Delete",
        "Merge",
        "Create",
        "Drop",
        "Alter",
        "AlterTable",
        "TruncateTable",
        "Into",
        "Lock",
        "Pragma",
        "Attach",
        "Detach",
        "Set",
        "SetItem",
        "Copy",
        "Command",
        "Transaction",
        "Commit",
        "Rollback",
        "Use",
        "Grant",
        "Revoke",
        "Analyze",
        "Kill",
        "LoadData",
        "Declare",
        "Execute",
        "Install",
        "Cache",
        "Uncache",
        "Refresh",
        "Comment",
        "Describe",
        "Show",
        "Summarize",
        "Returning",
    ]
)

_FORBIDDEN_FUNCTIONS = frozenset(
    [
        "load_extension",
        "set_config",
        "readfile",
        "writefile",
        "edit",
        "fts3_tokenizer",
        "sqlite_compileoption_get",
        "nextval",
        "setval",
        "currval",
        "pg_notify",
        "query_to_xml",
        "query_to_xml_and_xmlschema",
        "table_to_xml",
        "cursor_to_xml",
        "database_to_xml",
        "schema_to_xml",
        "txid_current",
        "pg_current_xact_id",
        "current_setting",
        "lastval",
        # MySQL / MariaDB: files, waits, named locks, replication waits, UDF shells.
        "load_file",
        "sleep",
        "benchmark",
        "get_lock",
        "release_lock",
        "release_all_locks",
        "is_free_lock",
        "is_used_lock",
        "master_pos_wait",
        "master_gtid_wait",
        "source_pos_wait",
        "wait_for_executed_gtid_set",
        "wait_until_sql_thread_after_gtids",
        "last_insert_id",
        "sys_exec",
        "sys_eval",
    ]
)
_FORBIDDEN_PREFIXES = tuple(
    [
        "pg_sleep",
        "pg_read_",
        "pg_ls_",
        "pg_stat_file",
        "pg_file",
        "pg_write",
        "lo_",
        "dblink",
        "pg_advisory",
        "pg_try_advisory",
        "pg_terminate",
        "pg_cancel",
        "pg_reload",
        "pg_rotate",
        "pg_promote",
        "pg_switch",
        "pg_create_",
        "pg_drop_",
        "pg_replication",
        "pg_logical",
        "pg_import",
        "pg_stat_reset",
        "pragma_",
    ]
)
# Functions whose result size is chosen by an argument.
_SIZED_FUNCTIONS = frozenset(
    [
        "randomblob",
        "zeroblob",
        "repeat",
        "lpad",
        "rpad",
        "space",
        "replicate",
        "printf",
        "format",
        "generate_series",
        "pad",
        "list_resize",
        "array_resize",
    ]
)
_DIGITS = re.compile(r"\d+")
# A width taken from an argument in fmt syntax (DuckDB's format): ``{:{}}``.
_FMT_DYNAMIC_WIDTH = re.compile(r"\{[^{}]*\{")
# DuckDB reads files and URLs from SQL and exposes its settings and secrets; these
# names are refused in the duckdb dialect only (``pragma_`` and ``pg_`` above apply).
_DUCKDB_FORBIDDEN_FUNCTIONS = frozenset(
    [
        "glob",
        "sniff_csv",
        "query",
        "query_table",
        "getenv",
        "duckdb_secrets",
        "which_secret",
        "duckdb_settings",
        "duckdb_extensions",
        "checkpoint",
        "force_checkpoint",
        "json_execute_serialized_sql",
    ]
)
_DUCKDB_FORBIDDEN_PREFIXES = (
    "read_",
    "parquet_",
    "iceberg_",
    "delta_",
    "sqlite_",
    "postgres_",
    "mysql_",
    "json_execute",
)
# A table named like a path or URL is a replacement scan: DuckDB reads the file.
_DUCKDB_FILE_TABLE = re.compile(r"[/\\:.*?]")
_FORMAT_WIDTH = re.compile(r"%[-+ 0#,!']*(\d+|\*)?(?:\.(\d+|\*))?")
_SYSTEM_TABLE_PREFIXES = ("pragma_", "pg_authid", "pg_shadow", "pg_user_mapping")
# MySQL / MariaDB schemas that describe the server, its accounts and its sessions.
_MYSQL_SYSTEM_SCHEMAS = frozenset(
    ["information_schema", "mysql", "performance_schema", "sys"]
)
# Executable comments (``/*! ... */``, ``/*M! ... */``) run as SQL on MySQL and
# MariaDB but are comments to sqlglot; optimizer hints (``/*+ ... */``) can lift
# MySQL's execution-time limit.
_MYSQL_EXECUTABLE_COMMENT = re.compile(r"^(?:!|M!|\+)", re.IGNORECASE)


def _dialect(dialect: str) -> str:
    try:
        return _DIALECTS[dialect.lower()]
    except KeyError:
        raise ValueError(f"unsupported dialect {dialect!r}") from None


_QUOTES = "\"`[]'"


def function_name(raw: str) -> str:
    """A function name as the engine resolves it for a deny-list: the last dotted
    part, without any identifier quoting (``"x"``, `` `x` ``, ``[x]``), case-folded.

    Engines call ``"pg_sleep"(1)``, ``[load_extension](...)`` and
    `` `LOAD_EXTENSION`(...) `` like the bare names, so quotes must not hide them.
    """
    last = raw.strip().rsplit(".", 1)[-1]
    return last.strip().strip(_QUOTES).strip().casefold()


def _function_names(node: exp.Func) -> set[str]:
    names = {node.sql_name()}
    if isinstance(node, exp.Anonymous):
        # ``this`` is an Identifier (quoted or not) or a plain string.
        names.add(node.name)
        names.add(str(node.this))
    else:
        # sqlglot maps e.g. printf to Format; the source name matters to the engine.
        names.update(type(node).sql_names())
    return {function_name(n) for n in names}


def _numeric_literals(node: exp.Expr) -> list[float]:
    values: list[float] = []
    for lit in node.find_all(exp.Literal):
        if lit.is_number:
            try:
                values.append(float(lit.this))
            except ValueError:
                values.append(float("inf"))
    return values


def _check_sized_call(name: str, node: exp.Func) -> None:
    args = list(node.iter_expressions())
    if name in {"printf", "format"}:
        star = False
        for lit in node.find_all(exp.Literal):
            if not lit.is_string:
                continue
            if any(int(d) > MAX_SIZE_ARGUMENT for d in _DIGITS.findall(lit.this)):
                raise UnsafeSQL(f"{name}() width above {MAX_SIZE_ARGUMENT}")
            if _FMT_DYNAMIC_WIDTH.search(lit.this):
                raise UnsafeSQL(f"{name}() with a width taken from an argument")
            for width, precision in _FORMAT_WIDTH.findall(lit.this):
                for part in (width, precision):
                    star = star or part == "*"
                    if part.isdigit() and int(part) > MAX_SIZE_ARGUMENT:
                        raise UnsafeSQL(f"{name}() width above {MAX_SIZE_ARGUMENT}")
        if not star:
            return
    numbers = [n for a in args for n in _numeric_literals(a)]
    if any(abs(n) > MAX_SIZE_ARGUMENT for n in numbers):
        raise UnsafeSQL(f"{name}() size argument above {MAX_SIZE_ARGUMENT}")
    if name in {"repeat", "replicate"} and args and _has_sized_call(args[0]):
        raise UnsafeSQL(f"{name}() of a sized call")
    if name in {"randomblob", "zeroblob", "repeat", "space", "replicate"}:
        # A computed size (e.g. 1e3 * 1e3 * 1e3) cannot be bounded statically.
        size_args = args[1:] if name in {"repeat", "replicate"} else args[:1]
        for arg in size_args:
            if not (isinstance(arg, exp.Literal) and arg.is_number):
                raise UnsafeSQL(f"{name}() with a computed size argument")


def _has_sized_call(node: exp.Expr) -> bool:
    return any(
        not _function_names(f).isdisjoint(_SIZED_FUNCTIONS)
        for f in node.find_all(exp.Func)
    )


def _check_duckdb_node(node: exp.Expr) -> None:
    if isinstance(node, exp.Func):
        for name in _function_names(node):
            if name in _DUCKDB_FORBIDDEN_FUNCTIONS or name.startswith(
                _DUCKDB_FORBIDDEN_PREFIXES
            ):
                raise UnsafeSQL(f"function {name}() is not allowed")
    elif isinstance(node, exp.Table) and _DUCKDB_FILE_TABLE.search(node.name):
        raise UnsafeSQL(f"table {node.name!r} names a file (replacement scan)")


def _check_tree(root: exp.Expr, *, dialect: str) -> None:
    for node in root.walk():
        if dialect == "duckdb":
            _check_duckdb_node(node)
        if isinstance(node, _FORBIDDEN_NODES):
            raise UnsafeSQL(
                f"{type(node).__name__} is not allowed in a read-only query"
            )
        if isinstance(node, exp.Func):
            for name in _function_names(node):
                if name in _FORBIDDEN_FUNCTIONS or name.startswith(_FORBIDDEN_PREFIXES):
                    raise UnsafeSQL(f"function {name}() is not allowed")
                if name in _SIZED_FUNCTIONS:
                    _check_sized_call(name, node)
        elif isinstance(node, exp.Table):
            table = function_name(node.name)
            if table.startswith(_SYSTEM_TABLE_PREFIXES):
                raise UnsafeSQL(f"table {table} is not allowed")


def _check_mysql(sql: str, root: exp.Expr) -> None:
    for token in sqlglot.Dialect.get_or_raise("mysql").tokenize(sql):
        for comment in token.comments:
            if _MYSQL_EXECUTABLE_COMMENT.match(comment):
                raise UnsafeSQL("executable comments and hints are not allowed")
    for node in root.walk():
        if isinstance(node, exp.PropertyEQ | exp.Parameter | exp.SessionParameter):
            raise UnsafeSQL("user and system variables are not allowed")
        if isinstance(node, exp.Hint):
            raise UnsafeSQL("executable comments and hints are not allowed")
        if isinstance(node, exp.Table):
            schema = function_name(node.db) if node.db else ""
            if schema in _MYSQL_SYSTEM_SCHEMAS:
                raise UnsafeSQL(f"system schema {schema} is not allowed")


def parse_checked(sql: str, *, dialect: str) -> exp.Expr:
    """Parse ``sql`` and return its single statement's tree, or raise SQLRejected."""
    read = _dialect(dialect)
    if not sql or not sql.strip():
        raise InvalidSQL("empty SQL")
    if len(sql) > MAX_SQL_LENGTH:
        raise UnsafeSQL(f"SQL longer than {MAX_SQL_LENGTH} characters")
    if "\x00" in sql:
        raise UnsafeSQL("SQL contains a NUL character")
    sqlglot_logger = logging.getLogger("sqlglot")
    previous = sqlglot_logger.level
    # sqlglot logs a warning when it falls back to Command; the gate rejects those.
    sqlglot_logger.setLevel(logging.ERROR)
    try:
        statements = sqlglot.parse(sql, read=read)
    except (ParseError, TokenError) as err:
        raise InvalidSQL(f"cannot parse as {read}: {str(err).splitlines()[0]}") from err
    except RecursionError as err:
        raise UnsafeSQL("SQL nested too deeply") from err
    finally:
        sqlglot_logger.setLevel(previous)
    real = [s for s in statements if s is not None and not isinstance(s, exp.Semicolon)]
    if not real:
        raise InvalidSQL("no statement")
    if len(real) > 1:
        raise UnsafeSQL(f"exactly one statement allowed, found {len(real)}")
    root = real[0]
    if not isinstance(root, exp.Query):
        raise UnsafeSQL(f"only queries are allowed, not {type(root).__name__}")
    _check_tree(root, dialect=read)
    if read == "mysql":
        _check_mysql(sql, root)
    return root


def check_sql(sql: str, *, dialect: str) -> str:
    """Return the single read-only statement in ``sql`` or raise SQLRejected.

    The returned text is the original statement without surrounding whitespace or a
    trailing semicolon, so that what runs is what was checked (not a re-rendering).
    """
    return checked_statement(sql, dialect=dialect)[0]


def checked_statement(sql: str, *, dialect: str) -> tuple[str, exp.Expr]:
    """`check_sql`'s text and the tree it checked, for callers that parse it anyway."""
    root = parse_checked(sql, dialect=dialect)
    statement = sql.strip()
    while statement.endswith(";"):
        statement = statement[:-1].rstrip()
    return statement, root
