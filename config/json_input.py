"""JSON input that cannot exhaust the parser or what reads the result.

Python's parser recurses per level: a body nested about 1,000 levels deep raised
RecursionError (a 500), and shallower ones still reach code that recurses over
the value. Parsing refuses the first; an iterative walk bounds the rest.
"""

from __future__ import annotations

import json
from typing import Any

MAX_JSON_DEPTH = 64


class JSONTooDeep(ValueError):
    """The document nests arrays and objects deeper than MAX_JSON_DEPTH."""


def json_depth(value: Any, *, stop_after: int | None = None) -> int:
    """The deepest nesting of lists and dicts in ``value`` (0 for a scalar).

    Iterative, so any depth is measured without recursion; it stops early once
    ``stop_after`` is exceeded.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if stop_after is not None and deepest > stop_after:
            return deepest
        stack.extend(
            (child, depth) for child in children if isinstance(child, dict | list)
        )
    return deepest


def loads_bounded(
    text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH, **options: Any
) -> Any:
    """``json.loads`` that raises JSONTooDeep past ``max_depth`` nested levels.

    Other malformed input raises ``json.JSONDecodeError`` or
    ``UnicodeDecodeError`` (both ValueErrors), as ``json.loads`` does;
    ``options`` go to ``json.loads``.
    """
    try:
        value = json.loads(text, **options)
    except RecursionError:
        raise JSONTooDeep(f"JSON nested deeper than {max_depth} levels") from None
    if json_depth(value, stop_after=max_depth) > max_depth:
        raise JSONTooDeep(f"JSON nested deeper than {max_depth} levels")
    return value
