"""Column kinds and value conversions for a SQLite copy (Django-free).

SQLite's affinity rules decide a column's kind, with dates and booleans kept
as text; the values then confirm or widen it (see `targets.load_plan`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = [
    "BINARY",
    "INTEGER",
    "NUMBER",
    "REAL",
    "TEXT",
    "affinity",
    "column_kind",
    "convert",
    "parse_number",
    "widened",
]

INTEGER, REAL, TEXT, BINARY = "integer", "real", "text", "binary"
NUMBER = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")
_TEMPORAL = ("DATE", "TIME", "YEAR", "BOOL")
_INT64 = (-(2**63), 2**63 - 1)


def affinity(declared: str) -> str:
    """SQLite's column affinity rules, with dates and booleans kept as text."""
    upper = declared.upper()
    if "INT" in upper:
        return INTEGER
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return TEXT
    if any(word in upper for word in _TEMPORAL):
        return TEXT
    if not upper or "BLOB" in upper:
        return "none"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return REAL
    return "numeric"


def column_kind(aff: str, values: Sequence[Any]) -> str:
    kinds = {type(v) for v in values if v is not None and v != ""}
    if bytes in kinds:
        decodable = all(_utf8(v) is not None for v in values if isinstance(v, bytes))
        if not decodable:
            return BINARY
        kinds = (kinds - {bytes}) | {str}
    if aff == TEXT:
        return TEXT
    numbers = [v for v in values if isinstance(v, str) and v != ""]
    if any(not NUMBER.match(v) for v in numbers):
        return TEXT
    parsed = [parse_number(v) for v in numbers]
    if float in kinds or any(isinstance(p, float) for p in parsed):
        return REAL
    if any(isinstance(p, int) and not _fits(p) for p in parsed):
        return REAL
    if int in kinds or parsed:
        return REAL if aff == REAL else INTEGER
    return {INTEGER: INTEGER, REAL: REAL, "numeric": REAL}.get(aff, TEXT)


def widened(aff: str, kind: str) -> bool:
    if aff in (INTEGER, REAL):
        return kind != aff
    return kind == BINARY or (aff == "numeric" and kind == TEXT)


def _fits(value: int) -> bool:
    return _INT64[0] <= value <= _INT64[1]


def _utf8(value: bytes) -> str | None:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def parse_number(text: str) -> int | float:
    stripped = text.strip()
    try:
        return int(stripped)
    except ValueError:
        return float(stripped)


def convert(value: Any, kind: str) -> tuple[Any, str]:
    """The value for a column of `kind`, and what changed ('' when nothing)."""
    if value is None:
        return None, ""
    if kind == BINARY:
        if isinstance(value, bytes):
            return value, ""
        return str(value).encode("utf-8"), "value stored as bytes"
    if isinstance(value, bytes):
        value = _utf8(value)
        if kind == TEXT:
            return value, "UTF-8 bytes stored as text"
    if kind == TEXT:
        if isinstance(value, str):
            return value, ""
        return str(value), "number stored as text"
    if value == "":
        return None, "empty string stored as NULL"
    if isinstance(value, str):
        number = parse_number(value)
        return (float(number) if kind == REAL else number), "numeric text as number"
    if kind == REAL and isinstance(value, int):
        return float(value), ""
    return value, ""
