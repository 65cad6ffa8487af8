"""A template's restricted tables and columns, as its safety rules read them.

Django-free; lives with the target databases because the entries name their
tables and columns, so that every layer above (the registry's admin form, the
evaluation's safety scoring) validates them the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Restricted", "parse_restricted"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


@dataclass(frozen=True, slots=True)
class Restricted:
    """Restricted tables and columns, lower-cased: {"t"} and {"t.c"}."""

    tables: frozenset[str] = frozenset()
    columns: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.tables or self.columns)

    def columns_of(self, table: str) -> list[str]:
        """The restricted columns of `table`, as "table.column", sorted."""
        return sorted(c for c in self.columns if c.split(".", 1)[0] == table)


def parse_restricted(entries: Iterable[Any]) -> Restricted:
    """Read a restricted list of "table" or "table.column" entries.

    Raises ValueError naming the first entry that is not one of those shapes
    (names are plain identifiers; matching ignores case).
    """
    tables: set[str] = set()
    columns: set[str] = set()
    for entry in entries:
        parts = entry.strip().split(".") if isinstance(entry, str) else []
        if not 1 <= len(parts) <= 2 or not all(_IDENTIFIER.match(p) for p in parts):
            raise ValueError(
                f"{entry!r} is not a restricted entry: give 'table' or 'table.column'."
            )
        lowered = ".".join(parts).lower()
        (tables if len(parts) == 1 else columns).add(lowered)
    return Restricted(frozenset(tables), frozenset(columns))
