"""Static size bounds for DuckDB scalar functions whose output size is an argument.

DuckDB's ``memory_limit`` covers its buffer manager (sorts, hash tables,
aggregates), not the strings and lists one scalar call builds: measured on duckdb
2.0.1 with a 64 MB limit, ``repeat('x', 2000000000)`` allocated 2 GB and
``range(200000000)`` 1.6 GB, and an interrupt does not stop a call that is
running (``printf('%2000000000d', 1)`` took 6 s against a 1 s deadline). So the
sandbox reads the statement's syntax tree, as DuckDB itself parses it
(``json_serialize_sql``), and refuses such calls unless their size arguments are
literals within bounds. Table functions of the same names (``FROM range(...)``)
stream rows and stay under the deadline; they are not restricted.
"""

from __future__ import annotations

import json
import re
from typing import Any

from targets.sandbox.base import MAX_VALUE_LENGTH, QueryRefused

MAX_SIZE_ARGUMENT = 1_000_000
# repeat() of a value that is not a literal multiplies an unknown size.
MAX_REPEAT_OF_VALUE = 1_000

# Which arguments give the size of the result (None: every argument).
_SIZE_ARGUMENTS: dict[str, tuple[int, ...] | None] = {
    "repeat": (1,),
    "lpad": (1,),
    "rpad": (1,),
    "list_resize": (1,),
    "array_resize": (1,),
    "range": None,
    "generate_series": None,
}
_FORMATTERS = frozenset({"printf", "format"})
_SIZED = frozenset(_SIZE_ARGUMENTS) | _FORMATTERS
_NUMBER_KINDS = frozenset(
    {"INTEGER", "BIGINT", "HUGEINT", "NUMERIC", "DECIMAL", "DOUBLE"}
)
_DIGITS = re.compile(r"\d+")
# A width or precision taken from an argument: printf's ``*``, fmt's ``{:{}}``.
_DYNAMIC_WIDTH = re.compile(r"\*|\{[^{}]*\{")


def check_sizes(serialized: str) -> None:
    """Raise QueryRefused for a sized call without literal bounds.

    ``serialized`` is the output of DuckDB's ``json_serialize_sql`` for the
    statement; a statement DuckDB cannot serialize is refused.
    """
    try:
        tree = json.loads(serialized)
    except RecursionError:
        raise QueryRefused("SQL nested too deeply") from None
    if tree.get("error"):
        raise QueryRefused(f"cannot check the statement: {tree.get('error_message')}")
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if node.get("type") == "TABLE_FUNCTION":
                # The table function itself streams; its arguments are expressions.
                function = node.get("function") or {}
                stack.append(function.get("arguments", []))
                stack.extend(v for k, v in node.items() if k != "function")
                continue
            if node.get("class") == "FUNCTION":
                _check_call(node)
            stack.extend(node.values())


def _name(node: dict[str, Any]) -> str:
    return str(node.get("function_name", "")).casefold()


def _arguments(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [a.get("expression") or {} for a in node.get("arguments", [])]


def _literal(expr: dict[str, Any]) -> dict[str, Any] | None:
    if expr.get("class") != "CONSTANT":
        return None
    literal = expr.get("literal")
    return literal if isinstance(literal, dict) else None


def _number(expr: dict[str, Any]) -> float | None:
    literal = _literal(expr)
    if literal is None or literal.get("kind") not in _NUMBER_KINDS:
        return None
    try:
        return float(literal.get("text", ""))
    except ValueError:
        return None


def _contains_sized_call(expr: Any) -> bool:
    stack: list[Any] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if node.get("class") == "FUNCTION" and _name(node) in _SIZED:
                return True
            stack.extend(node.values())
    return False


def _check_call(node: dict[str, Any]) -> None:
    name = _name(node)
    if name not in _SIZED:
        return
    args = _arguments(node)
    if name in _FORMATTERS:
        _check_format(name, args)
        return
    positions = _SIZE_ARGUMENTS[name]
    indexes = range(len(args)) if positions is None else positions
    for index in indexes:
        if index >= len(args):
            continue
        size = _number(args[index])
        if size is None:
            raise QueryRefused(f"{name}() with a size that is not a number literal")
        if abs(size) > MAX_SIZE_ARGUMENT:
            raise QueryRefused(f"{name}() size above {MAX_SIZE_ARGUMENT}")
    if name == "repeat" and len(args) >= 2:
        _check_repeat(args[0], _number(args[1]) or 0.0)


def _check_repeat(value: dict[str, Any], count: float) -> None:
    literal = _literal(value)
    if literal is not None and literal.get("kind") == "STRING":
        if len(str(literal.get("text", ""))) * count > MAX_VALUE_LENGTH:
            raise QueryRefused(f"repeat() result above {MAX_VALUE_LENGTH} characters")
        return
    if _contains_sized_call(value):
        raise QueryRefused("repeat() of a sized call")
    if count > MAX_REPEAT_OF_VALUE:
        raise QueryRefused(
            f"repeat() of a computed value more than {MAX_REPEAT_OF_VALUE} times"
        )


def _check_format(name: str, args: list[dict[str, Any]]) -> None:
    literal = _literal(args[0]) if args else None
    if literal is None or literal.get("kind") != "STRING":
        raise QueryRefused(f"{name}() with a format that is not a string literal")
    text = str(literal.get("text", ""))
    if _DYNAMIC_WIDTH.search(text):
        raise QueryRefused(f"{name}() with a width taken from an argument")
    if any(int(d) > MAX_SIZE_ARGUMENT for d in _DIGITS.findall(text)):
        raise QueryRefused(f"{name}() width above {MAX_SIZE_ARGUMENT}")
